package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpo-project/vpo/libs/policy"
	"github.com/vpo-project/vpo/services/vpo/internal/app"
)

// fancyPolicy uses two features vpo does not run yet, at lines 41 and 50.
var fancyPolicy = "schema_version: 13\ndescription: Uses too much\nconfig:\n  audio_languages: [eng]\nphases:\n" +
	"  - name: one\n    keep_audio:\n      languages: [eng]\n" +
	"  - name: two\n    keep_subtitles:\n      languages: [eng]\n" +
	"  - name: three\n" +
	strings.Repeat("    # the unsupported keys sit at lines 41 and 50\n", 28) +
	"    audio_synthesis: {}\n" +
	strings.Repeat("    #\n", 8) +
	"    transcription: {}\n"

// testPolicies are the policy files the command tests read: english keeps
// English audio and makes every file an mkv; fancy parses but uses what vpo
// does not support; broken does not parse (line 3).
var testPolicies = map[string]string{
	"english.yaml": "schema_version: 13\ndescription: |\n  Keep English audio\n  only.\nconfig:\n  audio_languages: [eng]\nphases:\n" +
		"  - name: filter\n    keep_audio:\n      languages: [eng]\n" +
		"  - name: container\n    container:\n      target: mkv\n",
	"fancy.yaml":  fancyPolicy,
	"broken.yaml": "schema_version: 13\nphases:\n  - name: a: b\n",
}

// writePolicies writes the testPolicies of the given names (all when none
// is given) into dir, creating it.
func writePolicies(t *testing.T, dir string, names ...string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		for name := range testPolicies {
			names = append(names, strings.TrimSuffix(name, ".yaml"))
		}
	}
	for _, name := range names {
		content, ok := testPolicies[name+".yaml"]
		if !ok {
			t.Fatalf("no test policy %q", name)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func runPolicies(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := app.Main(context.Background(), args, app.Env{
		Stdout: &out, Stderr: &errb, Environ: env,
	})
	return code, out.String(), errb.String()
}

func TestPolicyListAndCheck(t *testing.T) {
	home := t.TempDir()
	dir := filepath.Join(home, "policies")
	writePolicies(t, dir)
	env := []string{"HOME=" + home, "VPO_POLICIES_DIR=" + dir}

	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string // exact, with DIR for the policies directory
		stderr string // exact, with DIR
	}{
		{
			name: "list",
			args: []string{"policy", "list"},
			stdout: "NAME     PHASES  DESCRIPTION               STATUS\n" +
				"broken   -                                 parse error: YAML syntax error at line 3: mapping values are not allowed in this context\n" +
				"english  2       Keep English audio only.  ok\n" +
				"fancy    3       Uses too much             unsupported: phases[2].audio_synthesis, phases[2].transcription\n",
		},
		{
			name:   "check ok",
			args:   []string{"policy", "check", "english"},
			stdout: "ok: english (2 phases)\n",
		},
		{
			name: "check unsupported",
			args: []string{"policy", "check", "fancy"},
			code: app.ExitConfig,
			stderr: "DIR/fancy.yaml:41: phases[2].audio_synthesis: not supported by vpo yet\n" +
				"DIR/fancy.yaml:50: phases[2].transcription: not supported by vpo yet (transcription comes in a later release)\n",
		},
		{
			name:   "check syntax error",
			args:   []string{"policy", "check", "broken"},
			code:   app.ExitConfig,
			stderr: "DIR/broken.yaml: YAML syntax error at line 3: mapping values are not allowed in this context\n",
		},
		{
			name:   "check missing",
			args:   []string{"policy", "check", "nope"},
			code:   app.ExitConfig,
			stderr: "vpo: error: policy not found: no nope.yaml or nope.yml in DIR\n",
		},
		{
			name: "check without a name",
			args: []string{"policy", "check"},
			code: app.ExitUsage,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runPolicies(t, env, tc.args...)
			out, errs = strings.ReplaceAll(out, dir, "DIR"), strings.ReplaceAll(errs, dir, "DIR")
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errs)
			}
			if out != tc.stdout {
				t.Errorf("stdout:\n%s\nwant:\n%s", out, tc.stdout)
			}
			if tc.code != app.ExitUsage && errs != tc.stderr {
				t.Errorf("stderr:\n%s\nwant:\n%s", errs, tc.stderr)
			}
		})
	}
}

func TestPolicyListJSONAndMissingDirectory(t *testing.T) {
	home := t.TempDir()
	dir := filepath.Join(home, "policies")
	writePolicies(t, dir)
	env := []string{"HOME=" + home, "VPO_POLICIES_DIR=" + dir}

	code, out, errs := runPolicies(t, env, "policy", "list", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got struct {
		Dir      string `json:"policies_directory"`
		Exists   bool   `json:"directory_exists"`
		Total    int    `json:"total"`
		Policies []struct {
			Name        string   `json:"name"`
			Status      string   `json:"status"`
			ParseError  *string  `json:"parse_error"`
			Audio       []string `json:"audio_languages"`
			Unsupported []string `json:"unsupported"`
			Phases      int      `json:"phases"`
		} `json:"policies"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if got.Dir != dir || !got.Exists || got.Total != 3 || len(got.Policies) != 3 {
		t.Fatalf("listing %+v", got)
	}
	if p := got.Policies[0]; p.Name != "broken" || p.Status != "parse_error" || p.ParseError == nil || *p.ParseError == "" {
		t.Errorf("broken: %+v", p)
	}
	if p := got.Policies[2]; p.Name != "fancy" || p.Status != "unsupported" || len(p.Unsupported) != 2 || p.Phases != 3 ||
		p.ParseError != nil || len(p.Audio) != 1 || p.Unsupported[0] != dir+"/fancy.yaml:41: phases[2].audio_synthesis: not supported by vpo yet" {
		t.Errorf("fancy: %+v", p)
	}

	dir = filepath.Join(home, "none")
	env = []string{"HOME=" + home, "VPO_POLICIES_DIR=" + dir}
	code, out, errs = runPolicies(t, env, "policy", "list")
	if code != 0 || out != "" || !strings.Contains(errs, "directory "+dir+" does not exist") {
		t.Errorf("missing directory: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	code, out, _ = runPolicies(t, env, "policy", "list", "--json")
	if code != 0 || !strings.Contains(out, `"directory_exists": false`) || !strings.Contains(out, `"policies": []`) {
		t.Errorf("missing directory, JSON: exit %d, %s", code, out)
	}
}

// TestPolicyListJSONIsTheAPISummary checks that each entry of `vpo policy
// list --json` is the daemon's policy.Summary of the file, field for field,
// plus phases and status.
func TestPolicyListJSONIsTheAPISummary(t *testing.T) {
	home := t.TempDir()
	dir := filepath.Join(home, "policies")
	writePolicies(t, dir)
	code, out, errs := runPolicies(t, []string{"HOME=" + home, "VPO_POLICIES_DIR=" + dir}, "policy", "list", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got struct {
		Policies []map[string]json.RawMessage `json:"policies"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	l, err := policy.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Policies) != len(l.Entries) {
		t.Fatalf("%d policies, want %d", len(got.Policies), len(l.Entries))
	}
	for i, e := range l.Entries {
		b, err := json.Marshal(e.Summary())
		if err != nil {
			t.Fatal(err)
		}
		var want map[string]json.RawMessage
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		row := got.Policies[i]
		for _, k := range []string{"phases", "status"} {
			if _, ok := row[k]; !ok {
				t.Errorf("%s: no %q", e.Name, k)
			}
			delete(row, k)
		}
		if len(row) != len(want) {
			t.Errorf("%s: %d fields besides phases and status, the summary has %d", e.Name, len(row), len(want))
		}
		for k, v := range want {
			if string(compactJSON(t, row[k])) != string(v) {
				t.Errorf("%s: %s = %s, the summary has %s", e.Name, k, row[k], v)
			}
		}
	}
}

func compactJSON(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if len(b) == 0 {
		return nil
	}
	if err := json.Compact(&buf, b); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestPolicyUnreadableFile checks a policy file that cannot be read (a
// link to nothing; as root, mode 000 would still be readable): the list
// shows it as a parse error, and check and doctor fail with the read error.
func TestPolicyUnreadableFile(t *testing.T) {
	home := t.TempDir()
	dir := filepath.Join(home, "policies")
	writePolicies(t, dir, "english")
	gone := filepath.Join(dir, "gone.yaml")
	if err := os.Symlink(filepath.Join(home, "nothing.yaml"), gone); err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	for _, name := range []string{"ffprobe", "ffmpeg", "mkvmerge", "mkvpropedit"} {
		fakeTool(t, bin, name, "echo "+name+" 1.0\n")
	}
	env := []string{"HOME=" + home, "VPO_DATABASE_PATH=" + filepath.Join(home, "db"), "VPO_POLICIES_DIR=" + dir, "PATH=" + bin}
	readErr := "read policy: stat " + gone + ": no such file or directory"

	code, out, errs := runPolicies(t, env, "policy", "list")
	if want := "NAME     PHASES  DESCRIPTION               STATUS\n" +
		"english  2       Keep English audio only.  ok\n" +
		"gone     -                                 parse error: " + readErr + "\n"; code != 0 || out != want {
		t.Errorf("list: exit %d\n%s\nwant:\n%s%s", code, out, want, errs)
	}
	code, out, errs = runPolicies(t, env, "policy", "list", "--json")
	if code != 0 || !strings.Contains(out, `"parse_error": "`+readErr+`"`) || !strings.Contains(out, `"status": "parse_error"`) {
		t.Errorf("list --json: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = runPolicies(t, env, "policy", "check", "gone")
	if code != app.ExitConfig || out != "" || errs != readErr+"\n" {
		t.Errorf("check: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	code, out, _ = runPolicies(t, env, "doctor")
	if code != app.ExitFailure || !strings.Contains(out, "FAIL  policy gone: "+readErr+"\n") {
		t.Errorf("doctor: exit %d\n%s", code, out)
	}
}

// fakeFFProbe writes an ffprobe that prints the file it is given (the
// test's "videos" hold their own probe JSON) and fails on files named
// *bad*. It returns a PATH holding it.
func fakeFFProbe(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	script := "#!/bin/sh\nfor a; do f=$a; done\ncase \"$f\" in *bad*) echo '[matroska @ 0x1] EBML header parsing failed' >&2; echo \"$f: Invalid data found when processing input\" >&2; exit 1;; esac\ncat \"$f\"\n"
	if err := os.WriteFile(filepath.Join(bin, "ffprobe"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

func probeJSON(format string, audioLangs ...string) string {
	streams := []string{`{"index":0,"codec_type":"video","codec_name":"h264","width":160,"height":120}`}
	for i, l := range audioLangs {
		streams = append(streams, fmt.Sprintf(`{"index":%d,"codec_type":"audio","codec_name":"aac","channels":2,"tags":{"language":%q}}`, i+1, l))
	}
	return fmt.Sprintf(`{"format":{"format_name":%q,"duration":"2.000000"},"streams":[%s]}`, format, strings.Join(streams, ","))
}

func TestPolicyPlan(t *testing.T) {
	home := t.TempDir()
	pdir := filepath.Join(home, "policies")
	writePolicies(t, pdir)
	media := filepath.Join(home, "media")
	for name, content := range map[string]string{
		"a.mkv":          probeJSON("matroska,webm", "eng", "fre"),
		"b.mkv":          probeJSON("matroska,webm", "eng"),
		"c.mp4":          probeJSON("mov,mp4,m4a,3gp,3g2,mj2", "eng", "ger"),
		"bad.mkv":        "",
		"notes.txt":      "not a video",
		"sub/d.mkv":      probeJSON("matroska,webm", "ger"),
		"sub/deep/e.avi": probeJSON("avi", "eng"),
		// Not planned, as an apply job leaves them: hidden files and
		// directories (vpo's temporary files) and kept originals.
		".a.mkv.vpo-tmp.mkv":  "",
		".hidden/f.mkv":       "",
		"a.original.mkv":      "",
		"sub/b.original.webm": "",
	} {
		p := filepath.Join(media, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"HOME=" + home, "VPO_POLICIES_DIR=" + pdir, "PATH=" + fakeFFProbe(t)}

	t.Run("table", func(t *testing.T) {
		code, out, errs := runPolicies(t, env, "policy", "plan", "english", media)
		if code != app.ExitFailure {
			t.Fatalf("exit %d, want %d (a file failed)\n%s%s", code, app.ExitFailure, out, errs)
		}
		want := "M/a.mkv\n" +
			"    remove_track  track 2 (audio)  filter: audio track 2 (fre) not in keep_audio.languages [eng]\n" +
			"M/b.mkv\n" +
			"    no changes\n" +
			"M/bad.mkv\n" +
			"    error: ffprobe \"M/bad.mkv\": exit status 1: [matroska @ 0x1] EBML header parsing failed\n" +
			"           M/bad.mkv: Invalid data found when processing input\n" +
			"M/c.mp4\n" +
			"    remove_track       track 2 (audio)  filter: audio track 2 (ger) not in keep_audio.languages [eng]\n" +
			"    convert_container  file             container: \"mp4\" → \"mkv\": container.target is mkv\n" +
			"M/sub/d.mkv\n" +
			"    error: phase \"filter\": not enough audio tracks: keep_audio.languages [eng] keeps 0 of the 1 main audio tracks [ger], " +
			"fewer than keep_audio.minimum 1 (set keep_audio.fallback.mode to keep_all, keep_first or content_language to choose what stays)\n" +
			"M/sub/deep/e.avi\n" +
			"    convert_container  file  container: \"avi\" → \"mkv\": container.target is mkv\n" +
			"6 files: 3 with changes, 1 without, 0 skipped, 2 failed\n"
		if got := strings.ReplaceAll(out, media, "M"); got != want {
			t.Errorf("stdout:\n%s\nwant:\n%s", got, want)
		}
		if errs != "" {
			t.Errorf("stderr: %s", errs)
		}
	})

	t.Run("notes and lossless audio", func(t *testing.T) {
		// A transcode skip_if skipped says why in text mode too, and an
		// encode to flac has no bit rate.
		src := "schema_version: 13\nphases:\n  - name: x\n    transcode:\n      video:\n        to: hevc\n        skip_if: {codec_matches: [h264]}\n      audio: {to: flac}\n"
		if err := os.WriteFile(filepath.Join(pdir, "lossless.yaml"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(filepath.Join(pdir, "lossless.yaml"))
		code, out, errs := runPolicies(t, env, "policy", "plan", "lossless", filepath.Join(media, "b.mkv"))
		want := "M/b.mkv\n" +
			"    transcode_audio  track 1 (audio)  x: \"aac\" → \"flac\": audio track 1 (eng) is aac, not in transcode.audio.preserve [truehd dts-hd flac pcm_s24le], and transcode.audio.to is flac\n" +
			"    note: phase \"x\": transcode skipped: skip_if.codec_matches: the video is h264\n" +
			"1 file: 1 with changes, 0 without, 0 skipped, 0 failed\n"
		if got := strings.ReplaceAll(out, media, "M"); code != 0 || got != want {
			t.Errorf("exit %d, stdout:\n%s%s\nwant:\n%s", code, got, errs, want)
		}
		src = "schema_version: 13\nphases:\n  - name: x\n    transcode:\n      video:\n        to: hevc\n        skip_if: {codec_matches: [h264]}\n"
		if err := os.WriteFile(filepath.Join(pdir, "lossless.yaml"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out, errs = runPolicies(t, env, "policy", "plan", "lossless", filepath.Join(media, "b.mkv"))
		want = "M/b.mkv\n    no changes\n    note: phase \"x\": transcode skipped: skip_if.codec_matches: the video is h264\n" +
			"1 file: 0 with changes, 1 without, 0 skipped, 0 failed\n"
		if got := strings.ReplaceAll(out, media, "M"); code != 0 || got != want {
			t.Errorf("exit %d, stdout:\n%s%s\nwant:\n%s", code, got, errs, want)
		}
	})

	t.Run("root is a link", func(t *testing.T) {
		link := filepath.Join(home, "link")
		if err := os.Symlink(media, link); err != nil {
			t.Fatal(err)
		}
		code, out, errs := runPolicies(t, env, "policy", "plan", "english", link, "--no-recursive")
		if code != app.ExitFailure || !strings.HasPrefix(out, link+"/a.mkv\n") ||
			!strings.HasSuffix(out, "4 files: 2 with changes, 1 without, 0 skipped, 1 failed\n") {
			t.Errorf("exit %d\n%s%s", code, out, errs)
		}
	})

	t.Run("file is a link", func(t *testing.T) {
		// Apply leaves links alone (a rewrite would replace the link), so
		// plan says so instead of planning the file it points to.
		link := filepath.Join(home, "a-link.mkv")
		if err := os.Symlink(filepath.Join(media, "a.mkv"), link); err != nil {
			t.Fatal(err)
		}
		code, out, errs := runPolicies(t, env, "policy", "plan", "english", link)
		want := link + "\n    error: a symbolic link: vpo changes only regular files (name the file it points to)\n" +
			"1 file: 0 with changes, 0 without, 0 skipped, 1 failed\n"
		if code != app.ExitFailure || out != want {
			t.Errorf("exit %d\n%s%s\nwant:\n%s", code, out, errs, want)
		}
	})

	t.Run("no-recursive, one file, json", func(t *testing.T) {
		code, out, errs := runPolicies(t, env, "policy", "plan", "english", media, "--no-recursive", "--json")
		if code != app.ExitFailure {
			t.Fatalf("exit %d\n%s%s", code, out, errs)
		}
		var got []struct {
			Path  string       `json:"path"`
			Plan  *policy.Plan `json:"plan"`
			Error string       `json:"error"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v:\n%s", err, out)
		}
		if len(got) != 4 {
			t.Fatalf("%d files, want the 4 directly in the directory:\n%s", len(got), out)
		}
		if got[0].Path != filepath.Join(media, "a.mkv") || got[0].Plan == nil || len(got[0].Plan.Changes) != 1 ||
			got[0].Plan.Changes[0].Track != 2 || got[0].Error != "" {
			t.Errorf("a.mkv: %+v", got[0])
		}
		if got[2].Plan != nil || !strings.Contains(got[2].Error, "Invalid data") {
			t.Errorf("bad.mkv: %+v", got[2])
		}

		code, out, errs = runPolicies(t, env, "policy", "plan", "english", filepath.Join(media, "b.mkv"))
		if code != 0 || out != filepath.Join(media, "b.mkv")+"\n    no changes\n1 file: 0 with changes, 1 without, 0 skipped, 0 failed\n" {
			t.Errorf("one compliant file: exit %d\n%s%s", code, out, errs)
		}
	})

	for _, tc := range []struct {
		name   string
		env    []string
		args   []string
		code   int
		stderr string
	}{
		{name: "unsupported policy", args: []string{"policy", "plan", "fancy", media}, code: app.ExitConfig, stderr: "phases[2].audio_synthesis: not supported by vpo yet"},
		{name: "missing policy", args: []string{"policy", "plan", "nope", media}, code: app.ExitConfig, stderr: "no nope.yaml or nope.yml in " + pdir},
		{name: "missing path", args: []string{"policy", "plan", "english", filepath.Join(home, "nope")}, code: app.ExitFailure, stderr: `path "` + filepath.Join(home, "nope") + `": no such file or directory`},
		{name: "no ffprobe", env: []string{"HOME=" + home, "VPO_POLICIES_DIR=" + pdir, "PATH=" + t.TempDir()}, args: []string{"policy", "plan", "english", media}, code: app.ExitFailure, stderr: "ffprobe not found on PATH (install ffmpeg)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := env
			if tc.env != nil {
				e = tc.env
			}
			code, out, errs := runPolicies(t, e, tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.stderr) {
				t.Errorf("exit %d (want %d), stderr %q (want %q), stdout %q", code, tc.code, errs, tc.stderr, out)
			}
		})
	}

	// Planning changes nothing: every file is as it was.
	b, err := os.ReadFile(filepath.Join(media, "a.mkv"))
	if err != nil || string(b) != probeJSON("matroska,webm", "eng", "fre") {
		t.Errorf("a.mkv changed: %q, %v", b, err)
	}
}

// TestPolicyCheckTranscodeTargets: `vpo policy check` refuses, at the
// value's line, audio targets vpo does not encode and a tune the target
// encoder lacks, instead of saying ok and letting the job fail.
func TestPolicyCheckTranscodeTargets(t *testing.T) {
	home := t.TempDir()
	dir := filepath.Join(home, "policies")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + home, "VPO_POLICIES_DIR=" + dir}
	for _, tc := range []struct{ name, body, stderr string }{
		{"dts", "      audio:\n        to: dts\n", "DIR/dts.yaml:6: phases[0].transcode.audio.to: dts is not supported by vpo yet (use aac, ac3, eac3, flac, opus, mp3)\n"},
		{"pcm", "      audio: {to: pcm_s16le}\n", "DIR/pcm.yaml:5: phases[0].transcode.audio.to: pcm_s16le is not supported by vpo yet (use aac, ac3, eac3, flac, opus, mp3)\n"},
		{"film", "      video:\n        to: hevc\n        tune: film\n",
			`DIR/film.yaml:7: phases[0].transcode.video.tune: "film" is not one of animation, grain, fastdecode, zerolatency, psnr, ssim for hevc` + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := "schema_version: 13\nphases:\n  - name: t\n    transcode:\n" + tc.body
			if err := os.WriteFile(filepath.Join(dir, tc.name+".yaml"), []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			code, out, errs := runPolicies(t, env, "policy", "check", tc.name)
			if errs = strings.ReplaceAll(errs, dir, "DIR"); code != app.ExitConfig || out != "" || errs != tc.stderr {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit %d, stderr:\n%s", code, out, errs, app.ExitConfig, tc.stderr)
			}
		})
	}
}
