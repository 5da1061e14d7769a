package logging_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/vpo-project/vpo/libs/logging"
)

type syncWriter struct {
	bytes.Buffer
	err   error
	calls int
}

func (w *syncWriter) Sync() error {
	w.calls++
	return w.err
}

func TestFlush(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		wantErr bool
	}{
		{"ok", nil, false},
		{"pipe or tty", &os.PathError{Op: "sync", Path: "/dev/stderr", Err: syscall.EINVAL}, false},
		{"unsupported", &os.PathError{Op: "sync", Path: "/dev/stderr", Err: syscall.ENOTSUP}, false},
		{"real failure", &os.PathError{Op: "sync", Path: "/var/log/vpo.log", Err: syscall.EIO}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &syncWriter{err: tt.err}
			l, err := logging.New(logging.Options{Output: w})
			if err != nil {
				t.Fatal(err)
			}
			err = logging.Flush(l)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Flush() error = %v, wantErr %v", err, tt.wantErr)
			}
			if w.calls != 1 {
				t.Errorf("Sync called %d times, want 1", w.calls)
			}
			if tt.wantErr && !errors.Is(err, tt.err) {
				t.Errorf("error %v does not wrap %v", err, tt.err)
			}
		})
	}
}

func TestFlushRealOutputs(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	f, err := os.Create(filepath.Join(t.TempDir(), "vpo.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })

	tests := []struct {
		name string
		out  interface{ Write([]byte) (int, error) }
	}{
		{"pipe", w},
		{"file", f},
		{"no Sync method", &bytes.Buffer{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := logging.New(logging.Options{Output: tt.out})
			if err != nil {
				t.Fatal(err)
			}
			l.Info("before flush")
			if err := logging.Flush(l); err != nil {
				t.Errorf("Flush() = %v, want nil", err)
			}
		})
	}
}
