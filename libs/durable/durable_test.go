package durable_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpo-project/vpo/libs/durable"
)

func TestSyncDir(t *testing.T) {
	dir := t.TempDir()
	if err := durable.SyncDir(dir); err != nil {
		t.Fatalf("SyncDir of a directory: %v", err)
	}
	missing := filepath.Join(dir, "gone")
	if err := durable.SyncDir(missing); err == nil || !strings.Contains(err.Error(), "gone") {
		t.Errorf("SyncDir of a missing directory: %v, want an error naming it", err)
	}
}
