package policy_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/vpo-project/vpo/libs/policy"
)

// file is the path the parse tests give Parse.
const file = "/etc/vpo/policies/x.yaml"

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		// want are the messages, one per problem, in order.
		want []string
	}{
		{
			name: "unknown key with suggestion",
			src:  "schema_version: 13\nphases:\n  - name: a\n    keep_audio:\n      languages: [eng]\n\n      minumum: 2\n",
			want: []string{file + `:7: phases[0].keep_audio.minumum: unknown key (did you mean "minimum"?)`},
		},
		{
			name: "bad worker tag",
			src:  "schema_version: 13\nphases:\n  - name: a\n    requires: [gpu, GPU]\n",
			want: []string{file + `:4: phases[0].requires[1]: worker tag "GPU": use 1 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit (e.g. gpu)`},
		},
		{
			name: "unknown top-level key",
			src:  "schema_version: 13\npolicy_name: x\nphases:\n  - name: a\n",
			want: []string{file + `:2: policy_name: unknown key`},
		},
		{
			name: "unknown key in config",
			src:  "schema_version: 13\nconfig:\n  audio_language: [eng]\nphases:\n  - name: a\n",
			want: []string{file + `:3: config.audio_language: unknown key (did you mean "audio_languages"?)`},
		},
		{
			name: "syntax error",
			src:  "schema_version: 13\nname: x\ndescription: a: b\nphases:\n  - name: a\n",
			want: []string{file + `: YAML syntax error at line 3: mapping values are not allowed in this context`},
		},
		{
			// The YAML library names the line of the block (2); the
			// mistake is on line 4.
			name: "bad indentation",
			src:  "schema_version: 13\nphases:\n  - name: a\n   keep_audio:\n      languages: [eng]\n",
			want: []string{file + `: YAML syntax error at line 4: did not find expected '-' indicator (in the block begun at line 2)`},
		},
		{
			name: "bad indentation deep in a long file",
			src: "schema_version: 13\nphases:\n" + strings.Repeat("  - name: a\n    keep_subtitles: {remove_all: true}\n", 40) +
				"  - name: b\n   keep_audio:\n      languages: [eng]\n",
			want: []string{file + `: YAML syntax error at line 84: did not find expected '-' indicator (in the block begun at line 2)`},
		},
		{
			name: "empty file",
			src:  "",
			want: []string{file + `: the file is empty; a policy needs schema_version: 13 and phases`},
		},
		{
			name: "not a mapping",
			src:  "- a\n- b\n",
			want: []string{file + `:1: must be a mapping of keys (schema_version, name, description, category, config, phases), not a list`},
		},
		{
			name: "schema version missing",
			src:  "phases:\n  - name: a\n",
			want: []string{file + `:1: schema_version: missing: a policy must start with schema_version: 13`},
		},
		{
			name: "schema version 12",
			src:  "schema_version: 12\nphases:\n  - name: a\n",
			want: []string{file + `:1: schema_version: version 12 is not supported: vpo reads schema_version 13 (upstream VPO's phased format)`},
		},
		{
			name: "schema version a string",
			src:  "schema_version: \"13\"\nphases:\n  - name: a\n",
			want: []string{file + `:1: schema_version: must be the number 13, not "13"`},
		},
		{
			name: "phases missing",
			src:  "schema_version: 13\n",
			want: []string{file + `:1: phases: missing: a policy needs at least one phase`},
		},
		{
			name: "phases empty",
			src:  "schema_version: 13\nphases: []\n",
			want: []string{file + `:2: phases: is empty: a policy needs at least one phase`},
		},
		{
			name: "phase without name, bad name, reserved, duplicate",
			src:  "schema_version: 13\nphases:\n  - keep_subtitles: {remove_all: true}\n  - name: 1st\n  - name: config\n  - name: Same\n  - name: same\n",
			want: []string{
				file + `:3: phases[0].name: missing: every phase needs a name`,
				file + `:4: phases[1].name: "1st" is not a valid phase name: start with a letter, then up to 63 letters, digits, - or _`,
				file + `:5: phases[2].name: "config" is reserved and cannot name a phase`,
				file + `:7: phases[4].name: phase name "same" is used twice (first by phases[3]); names must differ (ignoring case)`,
			},
		},
		{
			name: "duplicate key",
			src:  "schema_version: 13\nphases:\n  - name: a\n    keep_subtitles:\n      remove_all: true\n      remove_all: false\n",
			want: []string{file + `:6: phases[0].keep_subtitles.remove_all: duplicate key (first at line 5)`},
		},
		{
			name: "type errors",
			src:  "schema_version: 13\nphases:\n  - name: a\n    keep_audio:\n      languages: eng\n      minimum: two\n    keep_subtitles:\n      preserve_forced: yes\n    track_order: video\n",
			want: []string{
				file + `:5: phases[0].keep_audio.languages: must be a list, not "eng"`,
				file + `:6: phases[0].keep_audio.minimum: must be a whole number, not "two"`,
				file + `:8: phases[0].keep_subtitles.preserve_forced: must be true or false, not "yes"`,
				file + `:9: phases[0].track_order: must be a list, not "video"`,
			},
		},
		{
			name: "minimum zero",
			src:  "schema_version: 13\nphases:\n  - name: a\n    keep_audio:\n      languages: [eng]\n      minimum: 0\n",
			want: []string{file + `:6: phases[0].keep_audio.minimum: must be a whole number from 1 to 1000, not 0`},
		},
		{
			name: "unknown language code",
			src:  "schema_version: 13\nconfig:\n  subtitle_languages: [eng, klingon]\nphases:\n  - name: a\n    keep_audio:\n      languages: [xx]\n",
			want: []string{
				file + `:3: config.subtitle_languages[1]: unknown language code "klingon" (use ISO 639 codes such as eng, jpn, ger)`,
				file + `:7: phases[0].keep_audio.languages[0]: unknown language code "xx" (use ISO 639 codes such as eng, jpn, ger)`,
			},
		},
		{
			name: "keep_audio without languages",
			src:  "schema_version: 13\nphases:\n  - name: a\n    keep_audio:\n      minimum: 1\n",
			want: []string{file + `:5: phases[0].keep_audio.languages: missing: list the languages of the audio tracks to keep`},
		},
		{
			name: "enums",
			src:  "schema_version: 13\nconfig:\n  on_error: ignore\nphases:\n  - name: a\n    container:\n      target: avi\n    keep_audio:\n      languages: [eng]\n      fallback: {mode: keep_al}\n",
			want: []string{
				file + `:3: config.on_error: "ignore" is not one of skip, continue, fail`,
				file + `:7: phases[0].container.target: "avi" is not one of mkv, mp4`,
				file + `:10: phases[0].keep_audio.fallback.mode: "keep_al" is not one of content_language, keep_all, keep_first, error (did you mean "keep_all"?)`,
			},
		},
		{
			name: "track order",
			src:  "schema_version: 13\nphases:\n  - name: a\n    track_order: [video, audio_mian, video]\n",
			want: []string{
				file + `:4: phases[0].track_order[1]: unknown track category "audio_mian" (did you mean "audio_main"?) (categories: video, audio_main, audio_alternate, subtitle_main, subtitle_forced, audio_commentary, subtitle_commentary, audio_music, audio_sfx, audio_non_speech, attachment)`,
				file + `:4: phases[0].track_order[2]: "video" is listed twice`,
			},
		},
		{
			name: "bad commentary pattern",
			src:  "schema_version: 13\nconfig:\n  commentary_patterns: ['(director']\nphases:\n  - name: a\n",
			want: []string{file + `:3: config.commentary_patterns[0]: "(director" is not a valid regular expression: error parsing regexp: missing closing ): ` + "`(?i)(director`"},
		},
		{
			name: "merge key",
			src:  "schema_version: 13\nbase: &b {remove_all: true}\nphases:\n  - name: a\n    keep_subtitles:\n      <<: *b\n",
			want: []string{
				file + `:2: base: unknown key`,
				file + `:6: phases[0].keep_subtitles.<<: merge keys (<<) are not supported; repeat the keys or use an alias for the whole value`,
			},
		},
		{
			name: "second document",
			src:  "schema_version: 13\nphases:\n  - name: a\n---\nschema_version: 13\n",
			want: []string{file + `:4: a second YAML document (after ---) is not allowed; a policy is one document`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := policy.Parse(file, []byte(tt.src))
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", p)
			}
			if p != nil {
				t.Errorf("Parse returned a policy with its error")
			}
			problems := policy.Problems(err)
			var got []string
			for _, e := range problems {
				got = append(got, e.Error())
				if e.File != file {
					t.Errorf("File = %q, want %q", e.File, file)
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("problem %d:\n got %s\nwant %s", i, got[i], tt.want[i])
				}
			}
			if !strings.Contains(err.Error(), file) {
				t.Errorf("error does not name the file: %v", err)
			}
		})
	}
}

func TestParseErrorWithoutFile(t *testing.T) {
	_, err := policy.Parse("", []byte("schema_version: 13\nphases: 3\n"))
	want := "<policy>:2: phases: must be a list of phases, not 3"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
}

func TestParseAliasBomb(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{
			// Nine levels of ten aliases each: 10^9 values if expanded.
			// Lists hold only strings, so the walk stops at the first
			// list it finds in a list.
			name: "billion laughs",
			src: func() string {
				var b strings.Builder
				b.WriteString("schema_version: 13\nconfig:\n  audio_languages: &l0 [eng]\nphases:\n  - name: a\n    keep_subtitles:\n      languages: &l9 [")
				var levels []string
				for i := 1; i <= 9; i++ {
					items := strings.Repeat("*l"+strconv.Itoa(i-1)+", ", 9) + "*l" + strconv.Itoa(i-1)
					levels = append(levels, "&l"+strconv.Itoa(i)+" ["+items+"]")
				}
				b.WriteString(strings.Join(levels[:8], ", "))
				b.WriteString(", " + strings.Replace(levels[8], "&l9 ", "", 1) + "]\n")
				return b.String()
			}(),
			want: "must be a string, not a list",
		},
		{
			// A phase of 768 values, listed 100 times.
			name: "phases",
			src: func() string {
				langs := "[" + strings.TrimSuffix(strings.Repeat("eng, ", 256), ", ") + "]"
				var b strings.Builder
				b.WriteString("schema_version: 13\nphases:\n  - &p\n    name: a\n    keep_audio:\n      languages: " + langs +
					"\n    keep_subtitles:\n      languages: " + langs + "\n    default_flags:\n      preferred_audio_codec: " + langs + "\n")
				for i := 0; i < 99; i++ {
					b.WriteString("  - *p\n")
				}
				return b.String()
			}(),
			want: "more than 20000 values (aliases expanded)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := policy.Parse(file, []byte(tt.src))
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), file) {
				t.Errorf("error = %.500v, want one naming the file and saying %q", err, tt.want)
			}
		})
	}
}

func TestParseAliases(t *testing.T) {
	src := "schema_version: 13\nconfig:\n  audio_languages: &langs [eng, jpn]\nphases:\n  - name: a\n    keep_audio:\n      languages: *langs\n"
	p, err := policy.Parse(file, []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Phases[0].KeepAudio.Languages; !reflect.DeepEqual(got, []string{"eng", "jpn"}) {
		t.Errorf("languages = %v", got)
	}
}

func TestParseTooLarge(t *testing.T) {
	data := make([]byte, policy.MaxFileSize+1)
	_, err := policy.Parse(file, data)
	if err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("error = %v", err)
	}
	path := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := policy.ReadFile(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("ReadFile error = %v", err)
	}
}

func TestParseDefaultsAndValues(t *testing.T) {
	src := `schema_version: 13
name: "  Movies  "
description: tidy movies
category: organize
config:
  audio_languages: [en, deu, ger]
  keep_original: false
phases:
  - name: one
    keep_audio:
      languages: [ja]
    default_flags:
      preferred_audio_codec: TrueHD
    container: {target: mp4}
`
	p, err := policy.Parse("/p/movies.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	keep := false
	want := policy.Config{
		AudioLanguages:     []string{"eng", "ger"},
		SubtitleLanguages:  []string{"eng", "und"},
		CommentaryPatterns: []string{"commentary", "director", "audio description"},
		OnError:            policy.OnErrorContinue,
		KeepOriginal:       &keep,
	}
	if !reflect.DeepEqual(p.Config, want) {
		t.Errorf("Config = %+v, want %+v", p.Config, want)
	}
	if p.Name != "movies" || p.DisplayName != "Movies" || p.Description != "tidy movies" || p.Category != "organize" || p.SchemaVersion != 13 {
		t.Errorf("policy = %+v", p)
	}
	ph := p.Phases[0]
	if ph.Name != "one" || ph.Line != 9 {
		t.Errorf("phase = %+v", ph)
	}
	if got := *ph.KeepAudio; got.Minimum != 1 || !reflect.DeepEqual(got.Languages, []string{"jpn"}) || got.Fallback != "" || !got.KeepMusicTracks {
		t.Errorf("keep_audio = %+v", got)
	}
	if got := *ph.DefaultFlags; !got.SetFirstVideoDefault || !got.SetPreferredAudioDefault || got.SetPreferredSubtitleDefault || !got.ClearOtherDefaults || !reflect.DeepEqual(got.PreferredAudioCodec, []string{"truehd"}) {
		t.Errorf("default_flags = %+v", got)
	}
	if got := *ph.Container; got.Target != "mp4" || got.OnIncompatibleCodec != "error" {
		t.Errorf("container = %+v", got)
	}
	if err := p.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
	if got := p.MediaOptions().CommentaryPatterns; !reflect.DeepEqual(got, want.CommentaryPatterns) {
		t.Errorf("MediaOptions = %v", got)
	}
	if string(p.Source) != src {
		t.Errorf("Source differs")
	}
}

func TestCheck(t *testing.T) {
	src := `schema_version: 13
phases:
  - name: first
    keep_audio:
      languages: [eng]
    depends_on: []
  - name: second
    container:
      target: mp4
      on_incompatible_codec: transcode
      codec_mappings: {dts: {codec: aac}}
  - name: third
    audio_synthesis:
      tracks: []
    transcode:
      video: {to: vp9, two_pass: true, upscale: true}
    transcription:
      enabled: true
    skip_when: {mode: any, container: [mp4]}
    run_if: {phase_modified: first}
    rules: {match: first, items: []}
    file_timestamp: {mode: now}
    on_error: fail
`
	p, err := policy.Parse(file, []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if !p.HasTranscode() || !p.HasTranscription() {
		t.Errorf("HasTranscode %v, HasTranscription %v", p.HasTranscode(), p.HasTranscription())
	}
	want := []string{
		file + ":6: phases[0].depends_on: not supported by vpo yet",
		file + ":11: phases[1].container.codec_mappings: not supported by vpo yet (it needs transcoding)",
		file + ":13: phases[2].audio_synthesis: not supported by vpo yet",
		file + ":16: phases[2].transcode.video.to: vp9 is not supported by vpo yet (use h264, hevc or av1)",
		file + ":16: phases[2].transcode.video.two_pass: true is not supported by vpo yet (encodes run in one pass)",
		file + ":16: phases[2].transcode.video.upscale: true is not supported by vpo yet (vpo scales down only)",
		file + ":17: phases[2].transcription: not supported by vpo yet (transcription comes in a later release)",
		file + ":19: phases[2].skip_when: not supported by vpo yet",
		file + ":20: phases[2].run_if: not supported by vpo yet",
		file + ":21: phases[2].rules: not supported by vpo yet",
		file + ":22: phases[2].file_timestamp: not supported by vpo yet",
		file + ":23: phases[2].on_error: not supported by vpo yet (use config.on_error for the whole policy)",
	}
	err = p.Check()
	var got []string
	for _, e := range policy.Problems(err) {
		got = append(got, e.Error())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Check:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var es policy.Errors
	if !errors.As(err, &es) || len(es) != len(want) {
		t.Errorf("Check error is not Errors of %d: %T", len(want), err)
	}
}

func TestPolicyJSON(t *testing.T) {
	p, err := policy.Parse(file, []byte("schema_version: 0xd\nphases:\n  - name: a\n    keep_subtitles: {remove_all: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"name":"x","file_path":"/etc/vpo/policies/x.yaml","schema_version":13,"config":{"audio_languages":["eng","und"],"subtitle_languages":["eng","und"],"commentary_patterns":["commentary","director","audio description"],"on_error":"continue"},"phases":[{"name":"a","line":3,"keep_subtitles":{"languages":null,"preserve_forced":false,"remove_all":true}}]}`
	if string(data) != want {
		t.Errorf("JSON:\n got %s\nwant %s", data, want)
	}
}

func TestCheckNullBlocks(t *testing.T) {
	p, err := policy.Parse(file, []byte("schema_version: 13\nphases:\n  - name: a\n    transcode:\n    keep_audio: ~\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Check(); err != nil || p.HasTranscode() || p.Phases[0].KeepAudio != nil {
		t.Errorf("Check = %v, HasTranscode %v, KeepAudio %+v: an empty block is no block", err, p.HasTranscode(), p.Phases[0].KeepAudio)
	}
}

func TestPhaseRequires(t *testing.T) {
	p, err := policy.Parse(file, []byte("schema_version: 13\nphases:\n  - name: a\n    requires: [nvenc, gpu]\n"+
		"  - name: b\n    requires: [gpu]\n  - name: c\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Requires(); strings.Join(got, ",") != "gpu,nvenc" {
		t.Errorf("Requires() = %v, want [gpu nvenc]", got)
	}
	if len(p.Phases[2].Requires) != 0 {
		t.Errorf("phase c requires %v", p.Phases[2].Requires)
	}
}
