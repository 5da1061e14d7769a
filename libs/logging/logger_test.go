package logging_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/logging"
)

func newLogger(t *testing.T, opts logging.Options) (*logrus.Logger, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	opts.Output = &buf
	l, err := logging.New(opts)
	if err != nil {
		t.Fatalf("New(%+v): %v", opts, err)
	}
	return l, &buf
}

func lines(buf *bytes.Buffer) []string {
	s := strings.TrimSuffix(buf.String(), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestJSONFormat(t *testing.T) {
	tests := []struct {
		name   string
		log    func(l *logrus.Logger)
		level  string
		want   map[string]any // exact values of these keys
		absent []string
	}{
		{
			name:   "plain info",
			log:    func(l *logrus.Logger) { l.Info("server started") },
			want:   map[string]any{"level": "info", "message": "server started"},
			absent: []string{"logger", "func", "file", "msg", "time"},
		},
		{
			name: "component with context fields",
			log: func(l *logrus.Logger) {
				logging.Component(l, "jobs").WithFields(logrus.Fields{
					"job_id":    "j-1",
					"file_path": "/media/a <b>.mkv",
					"attempt":   2,
				}).WithError(errors.New("disk full")).Warn("job failed")
			},
			want: map[string]any{
				"level": "warning", "logger": "jobs", "message": "job failed",
				"job_id": "j-1", "file_path": "/media/a <b>.mkv", "attempt": float64(2), "error": "disk full",
			},
		},
		{
			name:  "clashing field is kept under a prefix",
			log:   func(l *logrus.Logger) { l.WithField("message", "shadow").Error("real") },
			want:  map[string]any{"level": "error", "message": "real", "fields.message": "shadow"},
			level: "info",
		},
		{
			name:  "unencodable value falls back to text",
			log:   func(l *logrus.Logger) { l.WithField("ch", make(chan int)).Info("x") },
			want:  map[string]any{"message": "x"},
			level: "info",
		},
		{
			name:  "caller only at debug",
			log:   func(l *logrus.Logger) { l.Debug("details") },
			level: "debug",
			want:  map[string]any{"level": "debug", "message": "details"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, buf := newLogger(t, logging.Options{Level: tt.level, Format: "json"})
			before := time.Now().UTC()
			tt.log(l)
			got := lines(buf)
			if len(got) != 1 {
				t.Fatalf("got %d lines, want 1: %q", len(got), buf.String())
			}
			var obj map[string]any
			if err := json.Unmarshal([]byte(got[0]), &obj); err != nil {
				t.Fatalf("line is not JSON: %v: %s", err, got[0])
			}
			for _, k := range []string{"timestamp", "level", "message"} {
				if _, ok := obj[k]; !ok {
					t.Errorf("key %q missing in %s", k, got[0])
				}
			}
			ts, ok := obj["timestamp"].(string)
			if !ok {
				t.Fatalf("timestamp is %T, want string", obj["timestamp"])
			}
			parsed, err := time.Parse(time.RFC3339Nano, ts)
			if err != nil {
				t.Errorf("timestamp %q: %v", ts, err)
			}
			if !strings.HasSuffix(ts, "Z") || parsed.Before(before.Add(-time.Second)) {
				t.Errorf("timestamp %q is not a current UTC time", ts)
			}
			for k, v := range tt.want {
				if obj[k] != v {
					t.Errorf("%s = %#v, want %#v", k, obj[k], v)
				}
			}
			for _, k := range tt.absent {
				if _, ok := obj[k]; ok {
					t.Errorf("key %q present in %s", k, got[0])
				}
			}
			_, hasFunc := obj["func"]
			_, hasFile := obj["file"]
			if debug := tt.level == "debug"; hasFunc != debug || hasFile != debug {
				t.Errorf("caller present func=%v file=%v at level %q", hasFunc, hasFile, tt.level)
			}
			if hasFile && !strings.Contains(obj["file"].(string), "logger_test.go:") {
				t.Errorf("file = %v, want the test's own line", obj["file"])
			}
		})
	}
}

func TestTextFormat(t *testing.T) {
	l, buf := newLogger(t, logging.Options{Level: "info", Format: "text"})
	logging.Component(l, "http").WithField("addr", "127.0.0.1:8321").Info("listening on socket")
	got := lines(buf)
	if len(got) != 1 {
		t.Fatalf("got %d lines, want 1: %q", len(got), buf.String())
	}
	line := got[0]
	if strings.Contains(line, "\x1b[") {
		t.Errorf("line has colour codes: %q", line)
	}
	wantOrder := []string{"time=", " level=info", " logger=http", ` msg="listening on socket"`, ` addr="127.0.0.1:8321"`}
	pos := 0
	for _, w := range wantOrder {
		i := strings.Index(line[pos:], w)
		if i < 0 {
			t.Fatalf("%q not found in order in %q", w, line)
		}
		pos += i + len(w)
	}
	ts := strings.Trim(strings.TrimPrefix(strings.Fields(line)[0], "time="), `"`)
	if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
		t.Errorf("timestamp %q is not a full timestamp: %v", ts, err)
	}
}

func TestLevelFiltering(t *testing.T) {
	emit := func(l *logrus.Logger) {
		l.Debug("d")
		l.Info("i")
		l.Warn("w")
		l.Error("e")
	}
	tests := []struct {
		level string
		want  []string
	}{
		{"debug", []string{"debug", "info", "warning", "error"}},
		{"info", []string{"info", "warning", "error"}},
		{"", []string{"info", "warning", "error"}},
		{"warning", []string{"warning", "error"}},
		{"warn", []string{"warning", "error"}},
		{"WARN", []string{"warning", "error"}},
		{"error", []string{"error"}},
	}
	for _, tt := range tests {
		t.Run(tt.level, func(t *testing.T) {
			l, buf := newLogger(t, logging.Options{Level: tt.level, Format: "json"})
			emit(l)
			var got []string
			for _, line := range lines(buf) {
				var obj struct{ Level string }
				if err := json.Unmarshal([]byte(line), &obj); err != nil {
					t.Fatalf("bad JSON %q: %v", line, err)
				}
				got = append(got, obj.Level)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("levels logged = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name    string
		opts    logging.Options
		wantIs  error
		wantMsg string
	}{
		{"bad level", logging.Options{Level: "verbose"}, logging.ErrInvalidLevel, `log level "verbose"`},
		{"trace not offered", logging.Options{Level: "trace"}, logging.ErrInvalidLevel, `log level "trace"`},
		{"bad format", logging.Options{Format: "xml"}, logging.ErrInvalidFormat, `log format "xml"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := logging.New(tt.opts)
			if err == nil {
				t.Fatalf("New(%+v) = %v, want error", tt.opts, l)
			}
			if !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v does not wrap %v", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not name %s", err, tt.wantMsg)
			}
		})
	}
}

func TestJournalPrefix(t *testing.T) {
	tests := []struct {
		log    func(l *logrus.Logger)
		prefix string
	}{
		{func(l *logrus.Logger) { l.Debug("m") }, "<7>"},
		{func(l *logrus.Logger) { l.Info("m") }, "<6>"},
		{func(l *logrus.Logger) { l.Warn("m") }, "<4>"},
		{func(l *logrus.Logger) { l.Error("m") }, "<3>"},
	}
	for _, format := range []string{"text", "json"} {
		for _, tt := range tests {
			t.Run(format+tt.prefix, func(t *testing.T) {
				l, buf := newLogger(t, logging.Options{Level: "debug", Format: format, Journal: true})
				tt.log(l)
				got := lines(buf)
				if len(got) != 1 {
					t.Fatalf("got %d lines, want 1: %q", len(got), buf.String())
				}
				rest, ok := strings.CutPrefix(got[0], tt.prefix)
				if !ok {
					t.Fatalf("line %q does not start with %s", got[0], tt.prefix)
				}
				switch format {
				case "json":
					var obj map[string]any
					if err := json.Unmarshal([]byte(rest), &obj); err != nil {
						t.Errorf("rest of line is not JSON: %v: %s", err, rest)
					}
				case "text":
					if strings.Contains(rest, "time=") {
						t.Errorf("journal text line has a timestamp: %q", rest)
					}
					if !strings.HasPrefix(rest, "level=") {
						t.Errorf("journal text line = %q, want level= first", rest)
					}
				}
			})
		}
	}
}

func TestJournalPrefixMultiline(t *testing.T) {
	l, buf := newLogger(t, logging.Options{Format: "text", Journal: true})
	l.WithField("k", "a\nb").Error("line one\nline two")
	for _, line := range lines(buf) {
		if !strings.HasPrefix(line, "<3>") {
			t.Errorf("line %q lacks the priority prefix", line)
		}
	}
}

func TestSetLevel(t *testing.T) {
	l, buf := newLogger(t, logging.Options{Level: "error", Format: "json"})
	tests := []struct {
		level      string
		wantErr    bool
		wantLevel  logrus.Level
		wantCaller bool
		wantLogged bool // of an Info line
	}{
		{"info", false, logrus.InfoLevel, false, true},
		{"debug", false, logrus.DebugLevel, true, true},
		{"nonsense", true, logrus.DebugLevel, true, true}, // unchanged
		{"warning", false, logrus.WarnLevel, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.level, func(t *testing.T) {
			buf.Reset()
			err := logging.SetLevel(l, tt.level)
			if (err != nil) != tt.wantErr {
				t.Fatalf("SetLevel(%q) error = %v, wantErr %v", tt.level, err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, logging.ErrInvalidLevel) {
				t.Errorf("error %v does not wrap ErrInvalidLevel", err)
			}
			if l.GetLevel() != tt.wantLevel || l.ReportCaller != tt.wantCaller {
				t.Errorf("level %v caller %v, want %v %v", l.GetLevel(), l.ReportCaller, tt.wantLevel, tt.wantCaller)
			}
			l.Info("probe")
			if logged := buf.Len() > 0; logged != tt.wantLogged {
				t.Errorf("info logged = %v, want %v", logged, tt.wantLogged)
			}
		})
	}
}

func TestStderrIsJournal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "stream"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		t.Skipf("no syscall.Stat_t on this platform")
	}
	match := fmt.Sprintf("%d:%d", st.Dev, st.Ino)

	tests := []struct {
		name   string
		f      *os.File
		stream string
		want   bool
	}{
		{"matching", f, match, true},
		{"matching with newline", f, match + "\n", true},
		{"other inode", f, fmt.Sprintf("%d:%d", st.Dev, st.Ino+1), false},
		{"other device", f, fmt.Sprintf("%d:%d", st.Dev+1, st.Ino), false},
		{"empty", f, "", false},
		{"garbage", f, "journal", false},
		{"missing inode", f, fmt.Sprintf("%d:", st.Dev), false},
		{"negative", f, "-1:-1", false},
		{"nil file", nil, match, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := logging.StderrIsJournal(tt.f, tt.stream); got != tt.want {
				t.Errorf("StderrIsJournal(%q) = %v, want %v", tt.stream, got, tt.want)
			}
		})
	}
}

func TestSetFormat(t *testing.T) {
	tests := []struct {
		name    string
		from    string
		to      string
		journal bool
		want    func(line string) bool
		wantErr bool
	}{
		{name: "text to json", from: "text", to: "json", want: func(l string) bool { return json.Valid([]byte(l)) }},
		{name: "json to text", from: "json", to: "text", want: func(l string) bool { return strings.HasPrefix(l, "time=") }},
		{name: "journal keeps prefix", from: "text", to: "json", journal: true, want: func(l string) bool {
			return strings.HasPrefix(l, "<6>{") && json.Valid([]byte(strings.TrimPrefix(l, "<6>")))
		}},
		{name: "unknown format leaves it", from: "json", to: "xml", wantErr: true, want: func(l string) bool { return json.Valid([]byte(l)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, buf := newLogger(t, logging.Options{Format: tt.from, Journal: tt.journal})
			err := logging.SetFormat(l, tt.to, tt.journal)
			if (err != nil) != tt.wantErr {
				t.Fatalf("SetFormat(%q) error = %v, want error %v", tt.to, err, tt.wantErr)
			}
			if tt.wantErr && !errors.Is(err, logging.ErrInvalidFormat) {
				t.Fatalf("SetFormat(%q) = %v, want ErrInvalidFormat", tt.to, err)
			}
			l.Info("after")
			line := strings.TrimSuffix(buf.String(), "\n")
			if !tt.want(line) {
				t.Fatalf("line after SetFormat(%q): %q", tt.to, line)
			}
		})
	}
}
