package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpo-project/vpo/libs/media"
	"github.com/vpo-project/vpo/libs/policy"
	"github.com/vpo-project/vpo/services/vpo/internal/app"
)

// problems is a fake policy error: the problems it reports.
type problems []app.PolicyProblem

func (p problems) Error() string { return fmt.Sprintf("%d problems", len(p)) }

// fakePolicy keeps the audio tracks in its language and fails files
// without audio.
type fakePolicy struct {
	name, file, desc string
	phases           int
	check            error
	keep             string
}

func (p *fakePolicy) Name() string                { return p.name }
func (p *fakePolicy) File() string                { return p.file }
func (p *fakePolicy) SchemaVersion() int          { return 13 }
func (p *fakePolicy) Description() string         { return p.desc }
func (p *fakePolicy) Phases() int                 { return p.phases }
func (p *fakePolicy) Check() error                { return p.check }
func (p *fakePolicy) AudioLanguages() []string    { return []string{p.keep} }
func (p *fakePolicy) SubtitleLanguages() []string { return nil }
func (p *fakePolicy) HasTranscode() bool          { return false }
func (p *fakePolicy) HasTranscription() bool      { return false }
func (p *fakePolicy) MediaOptions() media.Options { return media.Options{} }

func (p *fakePolicy) Plan(f media.File) (policy.Plan, error) {
	plan := policy.Plan{Policy: p.name, Changes: []policy.Change{}}
	audio := 0
	for _, s := range f.Streams {
		if s.Type != media.StreamAudio {
			continue
		}
		audio++
		if s.Language != p.keep {
			plan.Changes = append(plan.Changes, policy.Change{Kind: policy.ChangeRemoveTrack, Track: s.Index,
				TrackType: "audio", Phase: "filter", Reason: fmt.Sprintf("language %s is not %s", s.Language, p.keep)})
		}
	}
	if audio == 0 {
		return policy.Plan{}, errors.New("no audio track")
	}
	if len(plan.Changes) > 0 && f.FormatNames[0] != "matroska" {
		plan.Changes = append(plan.Changes, policy.Change{Kind: policy.ChangeConvertContainer, Track: -1,
			From: f.FormatNames[0], To: "mkv", Phase: "container", Reason: "target mkv"})
	}
	return plan, nil
}

// fakeEngine serves fakePolicies and parse errors by name.
type fakeEngine struct {
	dir      string
	exists   bool
	policies []*fakePolicy
	broken   map[string]error // name → parse error
	found    []string         // the names Find was asked for
}

func (e *fakeEngine) List(dir string) (app.PolicyListing, error) {
	l := app.PolicyListing{Dir: dir, Exists: e.exists}
	for _, p := range e.policies {
		l.Entries = append(l.Entries, app.PolicyEntry{Name: p.name, Filename: p.name + ".yaml", Path: p.file, Policy: p})
	}
	for name, err := range e.broken {
		l.Entries = append(l.Entries, app.PolicyEntry{Name: name, Filename: name + ".yaml", Path: filepath.Join(dir, name+".yaml"), ParseErr: err})
	}
	return l, nil
}

func (e *fakeEngine) Find(dir, name string) (app.PolicyFile, error) {
	e.found = append(e.found, name)
	for _, p := range e.policies {
		if p.name == name {
			return p, nil
		}
	}
	if err, ok := e.broken[name]; ok {
		return nil, err
	}
	return nil, fmt.Errorf("policy %q in %s: %w", name, dir, app.ErrPolicyNotFound)
}

func (e *fakeEngine) Problems(err error) []app.PolicyProblem {
	var ps problems
	if errors.As(err, &ps) {
		return ps
	}
	return []app.PolicyProblem{{Msg: err.Error()}}
}

func newFakeEngine(dir string) *fakeEngine {
	return &fakeEngine{
		dir: dir, exists: true,
		policies: []*fakePolicy{
			{name: "english", file: filepath.Join(dir, "english.yaml"), desc: "Keep English audio\nonly.", phases: 2, keep: "eng"},
			{name: "fancy", file: filepath.Join(dir, "fancy.yaml"), desc: "Uses too much", phases: 3, keep: "eng",
				check: problems{
					{File: filepath.Join(dir, "fancy.yaml"), Line: 41, Key: "phases[2].audio_synthesis", Msg: "not supported by vpo yet"},
					{File: filepath.Join(dir, "fancy.yaml"), Line: 50, Key: "phases[2].transcription", Msg: "not supported by vpo yet"},
				}},
		},
		broken: map[string]error{
			"broken": problems{{File: filepath.Join(dir, "broken.yaml"), Line: 3, Msg: "YAML syntax error at line 3: mapping values are not allowed here"}},
		},
	}
}

func runPolicies(t *testing.T, eng app.PolicyEngine, env []string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := app.MainWithPolicies(context.Background(), args, app.Env{
		Stdout: &out, Stderr: &errb, Environ: env,
	}, eng)
	return code, out.String(), errb.String()
}

func TestPolicyListAndCheck(t *testing.T) {
	home := t.TempDir()
	dir := filepath.Join(home, "policies")
	eng := newFakeEngine(dir)
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
				"broken   -                                 parse error: YAML syntax error at line 3: mapping values are not allowed here\n" +
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
				"DIR/fancy.yaml:50: phases[2].transcription: not supported by vpo yet\n",
		},
		{
			name:   "check syntax error",
			args:   []string{"policy", "check", "broken"},
			code:   app.ExitConfig,
			stderr: "DIR/broken.yaml:3: YAML syntax error at line 3: mapping values are not allowed here\n",
		},
		{
			name:   "check missing",
			args:   []string{"policy", "check", "nope"},
			code:   app.ExitConfig,
			stderr: "vpo: error: policy \"nope\" in DIR: no such policy\n",
		},
		{
			name: "check without a name",
			args: []string{"policy", "check"},
			code: app.ExitUsage,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runPolicies(t, eng, env, tc.args...)
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
	eng := newFakeEngine(dir)
	env := []string{"HOME=" + home, "VPO_POLICIES_DIR=" + dir}

	code, out, errs := runPolicies(t, eng, env, "policy", "list", "--json")
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

	eng.exists, eng.policies, eng.broken = false, nil, nil
	code, out, errs = runPolicies(t, eng, env, "policy", "list")
	if code != 0 || out != "" || !strings.Contains(errs, "directory "+dir+" does not exist") {
		t.Errorf("missing directory: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	code, out, _ = runPolicies(t, eng, env, "policy", "list", "--json")
	if code != 0 || !strings.Contains(out, `"directory_exists": false`) || !strings.Contains(out, `"policies": []`) {
		t.Errorf("missing directory, JSON: exit %d, %s", code, out)
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
	eng := newFakeEngine(pdir)
	media := filepath.Join(home, "media")
	for name, content := range map[string]string{
		"a.mkv":          probeJSON("matroska,webm", "eng", "fre"),
		"b.mkv":          probeJSON("matroska,webm", "eng"),
		"c.mp4":          probeJSON("mov,mp4,m4a,3gp,3g2,mj2", "ger"),
		"bad.mkv":        "",
		"notes.txt":      "not a video",
		"sub/d.mkv":      probeJSON("matroska,webm"),
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
		code, out, errs := runPolicies(t, eng, env, "policy", "plan", "english", media)
		if code != app.ExitFailure {
			t.Fatalf("exit %d, want %d (a file failed)\n%s%s", code, app.ExitFailure, out, errs)
		}
		want := "M/a.mkv\n" +
			"    remove_track  track 2 (audio)  filter: language fre is not eng\n" +
			"M/b.mkv\n" +
			"    no changes\n" +
			"M/bad.mkv\n" +
			"    error: ffprobe \"M/bad.mkv\": exit status 1: [matroska @ 0x1] EBML header parsing failed\n" +
			"           M/bad.mkv: Invalid data found when processing input\n" +
			"M/c.mp4\n" +
			"    remove_track       track 1 (audio)  filter: language ger is not eng\n" +
			"    convert_container  file             container: \"mov\" → \"mkv\": target mkv\n" +
			"M/sub/d.mkv\n" +
			"    error: no audio track\n" +
			"M/sub/deep/e.avi\n" +
			"    no changes\n" +
			"6 files: 2 with changes, 2 without, 0 skipped, 2 failed\n"
		if got := strings.ReplaceAll(out, media, "M"); got != want {
			t.Errorf("stdout:\n%s\nwant:\n%s", got, want)
		}
		if errs != "" {
			t.Errorf("stderr: %s", errs)
		}
	})

	t.Run("root is a link", func(t *testing.T) {
		link := filepath.Join(home, "link")
		if err := os.Symlink(media, link); err != nil {
			t.Fatal(err)
		}
		code, out, errs := runPolicies(t, eng, env, "policy", "plan", "english", link, "--no-recursive")
		if code != app.ExitFailure || !strings.HasPrefix(out, link+"/a.mkv\n") ||
			!strings.HasSuffix(out, "4 files: 2 with changes, 1 without, 0 skipped, 1 failed\n") {
			t.Errorf("exit %d\n%s%s", code, out, errs)
		}
	})

	t.Run("no-recursive, one file, json", func(t *testing.T) {
		code, out, errs := runPolicies(t, eng, env, "policy", "plan", "english", media, "--no-recursive", "--json")
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

		code, out, errs = runPolicies(t, eng, env, "policy", "plan", "english", filepath.Join(media, "b.mkv"))
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
		{name: "missing policy", args: []string{"policy", "plan", "nope", media}, code: app.ExitConfig, stderr: `policy "nope"`},
		{name: "missing path", args: []string{"policy", "plan", "english", filepath.Join(home, "nope")}, code: app.ExitFailure, stderr: `path "` + filepath.Join(home, "nope") + `": no such file or directory`},
		{name: "no ffprobe", env: []string{"HOME=" + home, "VPO_POLICIES_DIR=" + pdir, "PATH=" + t.TempDir()}, args: []string{"policy", "plan", "english", media}, code: app.ExitFailure, stderr: "ffprobe not found on PATH (install ffmpeg)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := env
			if tc.env != nil {
				e = tc.env
			}
			code, out, errs := runPolicies(t, eng, e, tc.args...)
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
