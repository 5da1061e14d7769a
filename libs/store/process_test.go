package store_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/store"
)

const (
	helperDBEnv    = "VPO_STORE_HELPER_DB"
	helperOutEnv   = "VPO_STORE_HELPER_OUT"
	helperReadyEnv = "VPO_STORE_HELPER_READY"
)

// TestHelperClaimer is not a test: TestTwoProcessesNoDoubleClaim runs the
// test binary again with -test.run=^TestHelperClaimer$ as a second process
// that claims from the same database file.
func TestHelperClaimer(t *testing.T) {
	dbPath := os.Getenv(helperDBEnv)
	if dbPath == "" {
		t.Skip("helper process for TestTwoProcessesNoDoubleClaim")
	}
	ctx := context.Background()
	s, err := store.Open(ctx, dbPath, store.Options{BusyTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := os.Create(os.Getenv(helperOutEnv))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	w := bufio.NewWriter(out)
	if err := os.WriteFile(os.Getenv(helperReadyEnv), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := claimAll(ctx, s, "child", func(id string) { fmt.Fprintln(w, id) }); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

func claimAll(ctx context.Context, s *store.Store, owner string, record func(id string)) error {
	for {
		j, ok, err := s.ClaimJob(ctx, owner, []string{"k"}, time.Minute, time.Now())
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		record(j.ID)
		if err := s.CompleteJob(ctx, j.Lease(), nil, time.Now()); err != nil {
			return err
		}
		// A worker does some work between two claims; without it, one
		// process's tight loop of writes can take every job before the
		// other gets the write lock once, on a loaded machine.
		time.Sleep(100 * time.Microsecond)
	}
}

func TestTwoProcessesNoDoubleClaim(t *testing.T) {
	sqliteOnly(t)
	if testing.Short() {
		t.Skip("starts a second process")
	}
	ctx := context.Background()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "vpo.db")
	s, err := store.Open(ctx, dbPath, store.Options{BusyTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const jobs = 3000
	for i := 0; i < jobs; i++ {
		mustCreate(t, s, store.NewJob{Kind: "k", Priority: i % 5})
	}

	outPath, readyPath := filepath.Join(dir, "child.out"), filepath.Join(dir, "child.ready")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperClaimer$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperDBEnv+"="+dbPath, helperOutEnv+"="+outPath, helperReadyEnv+"="+readyPath)
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(readyPath); err == nil {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("helper process never became ready: %s", stderr.String())
		}
		time.Sleep(time.Millisecond)
	}

	var mu sync.Mutex
	var parent []string
	var wg sync.WaitGroup
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func(owner string) {
			defer wg.Done()
			if err := claimAll(ctx, s, owner, func(id string) { mu.Lock(); parent = append(parent, id); mu.Unlock() }); err != nil {
				t.Error(err)
			}
		}(fmt.Sprintf("parent%d", g))
	}
	wg.Wait()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper process: %v\n%s", err, stderr.String())
	}
	b, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	child := strings.Fields(string(b))

	seen := make(map[string]string, jobs)
	for who, ids := range map[string][]string{"parent": parent, "child": child} {
		for _, id := range ids {
			if prev, dup := seen[id]; dup {
				t.Errorf("job %s claimed by %s and %s", id, prev, who)
			}
			seen[id] = who
		}
	}
	if len(seen) != jobs {
		t.Errorf("%d distinct jobs claimed, want %d", len(seen), jobs)
	}
	t.Logf("parent claimed %d, child claimed %d", len(parent), len(child))
	if len(parent) == 0 || len(child) == 0 {
		t.Errorf("no concurrency: parent claimed %d, child %d", len(parent), len(child))
	}
}
