package apply_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpo-project/vpo/libs/media"
	"github.com/vpo-project/vpo/services/vpo/internal/apply"
)

// TestNotMediaIsPermanent: a file ffprobe cannot read as media (a text
// file named .mkv) is an error matching ErrPermanent, naming the file; a
// missing ffprobe is not permanent (it can be installed).
func TestNotMediaIsPermanent(t *testing.T) {
	needTools(t, "ffprobe")
	path := filepath.Join(t.TempDir(), "passwd.mkv")
	if err := os.WriteFile(path, []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e, _ := newExecutor(t, nil)
	_, _, err := e.Probe(context.Background(), path, media.Options{})
	if err == nil || !errors.Is(err, apply.ErrPermanent) || !strings.Contains(err.Error(), path+" is not a media file") {
		t.Fatalf("probe of a text file: %v; want an error matching ErrPermanent naming %s", err, path)
	}

	missing, err := apply.New(apply.Options{JournalDir: filepath.Join(t.TempDir(), "j"),
		Tools: apply.Tools{FFProbe: filepath.Join(t.TempDir(), "no-ffprobe")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := missing.Probe(context.Background(), path, media.Options{}); err == nil || errors.Is(err, apply.ErrPermanent) {
		t.Errorf("probe without ffprobe: %v; want an error that is not permanent", err)
	}
}
