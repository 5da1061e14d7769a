package store_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/store"
)

// addJobs submits n jobs of kind.
func addJobs(t testing.TB, s *store.Store, kind string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, err := s.CreateJob(context.Background(), store.NewJob{Kind: kind}); err != nil {
			t.Fatal(err)
		}
	}
}

// kindCounts reads the number of jobs per kind through a fresh store.
func kindCounts(t *testing.T, path string) map[string]int {
	t.Helper()
	s, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatalf("Open %s: %v", path, err)
	}
	defer s.Close()
	if res, err := s.IntegrityCheck(context.Background()); err != nil || res != "ok" {
		t.Fatalf("integrity_check of %s = %q, %v", path, res, err)
	}
	jobs, _, err := s.ListJobs(context.Background(), store.JobFilter{Limit: store.MaxListLimit})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, j := range jobs {
		counts[j.Kind]++
	}
	return counts
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// TestCloseRemovesLogOfDeletedFile: the database file is deleted while the
// store is open and written after that; Close leaves no write-ahead log or
// shared-memory file behind that SQLite could replay into a file put at the
// path later.
func TestCloseRemovesLogOfDeletedFile(t *testing.T) {
	sqliteOnly(t)
	path := filepath.Join(t.TempDir(), "library.db")
	s, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	addJobs(t, s, "before", 3)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	addJobs(t, s, "after", 3)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, p := range []string{path + "-wal", path + "-shm"} {
		if exists(p) {
			t.Errorf("%s left behind after Close of a deleted database", p)
		}
	}
}

// TestCloseCheckpointsMovedFile: the file is moved away while the store is
// open; what was written goes into the moved file, and no log is left at
// the old path.
func TestCloseCheckpointsMovedFile(t *testing.T) {
	sqliteOnly(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "library.db")
	moved := filepath.Join(dir, "moved.db")
	s, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	addJobs(t, s, "before", 2)
	if err := os.Rename(path, moved); err != nil {
		t.Fatal(err)
	}
	addJobs(t, s, "after", 2)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if exists(path + "-wal") {
		t.Errorf("%s-wal left behind after Close of a moved database", path)
	}
	if got := kindCounts(t, moved); got["before"] != 2 || got["after"] != 2 {
		t.Errorf("moved database holds %v, want 2 before and 2 after", got)
	}
}

// TestOpenRefusesForeignLog: a write-ahead log with committed transactions
// that vpo wrote for another file lies next to a (restored) database file:
// Open fails with ErrForeignWAL naming the paths and changes nothing.
func TestOpenRefusesForeignLog(t *testing.T) {
	sqliteOnly(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "library.db")
	backup := filepath.Join(dir, "backup.db")

	s, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	addJobs(t, s, "backed-up", 2)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(backup, mustRead(t, path), 0o600); err != nil {
		t.Fatal(err)
	}

	// The daemon runs on and crashes: its log file stays behind. (A hard
	// link keeps the very log file alive past the clean Close here.)
	s, err = store.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	addJobs(t, s, "later", 5)
	kept := filepath.Join(dir, "crash.wal")
	if err := os.Link(path+"-wal", kept); err != nil {
		t.Fatal(err)
	}
	staleLog := mustRead(t, path+"-wal")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Restore: the backup replaces the file, the crash's log is still there.
	restored := filepath.Join(dir, "restore.tmp")
	if err := os.WriteFile(restored, mustRead(t, backup), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(restored, path); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(kept, path+"-wal"); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mustRead(t, path+"-wal"), staleLog) {
		t.Fatal("the crash's log changed on Close")
	}
	dbBefore := mustRead(t, path)

	_, err = store.Open(context.Background(), path, store.Options{})
	if !errors.Is(err, store.ErrForeignWAL) {
		t.Fatalf("Open with a foreign log = %v, want ErrForeignWAL", err)
	}
	if msg := err.Error(); !strings.Contains(msg, path+"-wal") || !strings.Contains(msg, path) {
		t.Errorf("error does not name the log and the database: %v", err)
	}
	if !bytes.Equal(mustRead(t, path), dbBefore) || !bytes.Equal(mustRead(t, path+"-wal"), staleLog) {
		t.Fatal("a refused Open changed the database or its log")
	}

	// The documented way out: delete the log (and shared memory).
	_ = os.Remove(path + "-shm")
	if err := os.Remove(path + "-wal"); err != nil {
		t.Fatal(err)
	}
	if got := kindCounts(t, path); got["backed-up"] != 2 || got["later"] != 0 {
		t.Errorf("restored database holds %v, want exactly the backup's 2 jobs", got)
	}
}

// TestOpenKeepsOwnLog: the log a crash leaves behind next to the same file
// is replayed (this is how committed work survives SIGKILL).
func TestOpenKeepsOwnLog(t *testing.T) {
	sqliteOnly(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "library.db")
	s, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	addJobs(t, s, "committed", 4)
	// A crash: the file keeps its state, the log its committed frames
	// (a copy taken while open stands in for the process dying).
	dbImage, logImage := mustRead(t, path), mustRead(t, path+"-wal")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, dbImage, 0o600); err != nil { // same inode
		t.Fatal(err)
	}
	if err := os.WriteFile(path+"-wal", logImage, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := kindCounts(t, path); got["committed"] != 4 {
		t.Errorf("after a crash: %v, want the 4 committed jobs", got)
	}
}

// TestOpenWarnsOfUnrecordedLog: a log with committed transactions and no
// record of its database file is replayed, as SQLite would, but Open says
// so: it may be a crash's log next to a backup copied in place.
func TestOpenWarnsOfUnrecordedLog(t *testing.T) {
	sqliteOnly(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "library.db")
	s, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	addJobs(t, s, "committed", 2)
	dbImage, logImage := mustRead(t, path), mustRead(t, path+"-wal")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for name, image := range map[string][]byte{path: dbImage, path + "-wal": logImage} {
		if err := os.WriteFile(name, image, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(path + "-wal-owner"); err != nil {
		t.Fatal(err)
	}
	var warnings []string
	s, err = store.Open(context.Background(), path, store.Options{Warn: func(m string) { warnings = append(warnings, m) }})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	if len(warnings) != 1 || !strings.Contains(warnings[0], path+"-wal") || !strings.Contains(warnings[0], "no record") {
		t.Fatalf("warnings = %q, want one naming the log", warnings)
	}
	// With its record, the same situation is silent.
	warnings = nil
	s, err = store.Open(context.Background(), path, store.Options{Warn: func(m string) { warnings = append(warnings, m) }})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	if len(warnings) != 0 {
		t.Fatalf("warnings on a clean open: %q", warnings)
	}
}

// TestOpenRefusesStrangeOwnerRecord: an owner record that is a FIFO, a
// device or huge fails Open at once, naming it; nothing blocks or fills
// memory.
func TestOpenRefusesStrangeOwnerRecord(t *testing.T) {
	sqliteOnly(t)
	for _, tt := range []struct {
		name string
		make func(owner string) error
		want string
	}{
		{"fifo", func(o string) error { return syscall.Mkfifo(o, 0o600) }, "not a regular file"},
		{"device", func(o string) error { return os.Symlink("/dev/zero", o) }, "not a regular file"},
		{"huge", func(o string) error { return os.WriteFile(o, make([]byte, 1<<20), 0o600) }, "larger than"},
		{"garbage", func(o string) error { return os.WriteFile(o, []byte("garbage\n"), 0o600) }, "malformed owner record"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "library.db")
			s, err := store.Open(context.Background(), path, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			addJobs(t, s, "committed", 2)
			dbImage, logImage := mustRead(t, path), mustRead(t, path+"-wal")
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			// A crash's state: the file and a log with committed frames.
			for name, image := range map[string][]byte{path: dbImage, path + "-wal": logImage} {
				if err := os.WriteFile(name, image, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			owner := path + "-wal-owner"
			if err := os.Remove(owner); err != nil {
				t.Fatal(err)
			}
			if err := tt.make(owner); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				s, err := store.Open(context.Background(), path, store.Options{})
				if err == nil {
					_ = s.Close()
				}
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), owner) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("Open = %v, want an error naming %s and saying %q", err, owner, tt.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Open still running after 10s")
			}
		})
	}
}

// TestOpenTrustsLogRestoredWithItsDatabase: a database file restored
// together with its log (a file system snapshot: new files for both) is
// opened with the log's transactions, as SQLite would.
func TestOpenTrustsLogRestoredWithItsDatabase(t *testing.T) {
	sqliteOnly(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "library.db")
	s, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	addJobs(t, s, "snapshot", 4)
	dbImage, logImage := mustRead(t, path), mustRead(t, path+"-wal")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		path string
		data []byte
	}{{path, dbImage}, {path + "-wal", logImage}} {
		tmp := f.path + ".restore"
		if err := os.WriteFile(tmp, f.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, f.path); err != nil {
			t.Fatal(err)
		}
	}
	if got := kindCounts(t, path); got["snapshot"] != 4 {
		t.Errorf("restored snapshot: %v, want its 4 jobs", got)
	}
}

// TestOpenPathWithDoubleSlash: "//dir/library.db" is an absolute path like
// any other, not a URI with a host.
func TestOpenPathWithDoubleSlash(t *testing.T) {
	sqliteOnly(t)
	path := "/" + filepath.Join(t.TempDir(), "library.db")
	s, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	defer s.Close()
	if _, err := os.Stat(filepath.Clean(path)); err != nil {
		t.Errorf("database not created at %s: %v", filepath.Clean(path), err)
	}
}
