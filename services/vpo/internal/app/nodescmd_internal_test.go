package app

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/config"
	"github.com/vpo-project/vpo/libs/policy"
	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/server"
)

func TestPrintNodes(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	var b strings.Builder
	err := printNodes(&b, []server.NodeView{
		{Node: store.Node{Name: "media-1", Version: "1.4.0", Address: "10.0.0.11:8321", HeartbeatAt: now.Add(-4 * time.Second),
			Workers: 4, RunningJobs: 3, Tags: []string{}}, State: "up", Self: true},
		{Node: store.Node{Name: "gpu-1", Version: "1.4.0", Address: "10.0.0.12:8321", HeartbeatAt: now.Add(-95 * time.Second),
			Workers: 2, Tags: []string{"gpu", "nvenc"}}, State: "gone"},
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NODE") {
		t.Fatalf("output:\n%s", b.String())
	}
	for i, want := range [][]string{
		{"media-1 (this)", "up", "4s ago", "1.4.0", "4", "3", "-", "10.0.0.11:8321"},
		{"gpu-1", "gone", "1m35s ago", "2", "0", "gpu,nvenc", "10.0.0.12:8321"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i+1], w) {
				t.Errorf("line %q lacks %q", lines[i+1], w)
			}
		}
	}
}

// TestJobsListShowsNodeAndRequires: the jobs table names the node each job
// ran on, and a queued job that requires tags says which.
func TestJobsListShowsNodeAndRequires(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	var b strings.Builder
	err := printJobs(&b, false,
		store.Job{ID: "j1", Kind: "transcode", Status: store.StatusRunning, Node: "gpu-1", Attempts: 1, MaxAttempts: 3, CreatedAt: now},
		store.Job{ID: "j2", Kind: "transcode", Status: store.StatusQueued, Requires: []string{"gpu"}, MaxAttempts: 3, CreatedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "NODE") || !strings.Contains(lines[1], "gpu-1") ||
		!strings.Contains(lines[2], "needs a node with gpu") {
		t.Errorf("jobs table:\n%s", b.String())
	}
}

// TestHideSecrets: the database URL and the token are not passed on to the
// tools vpo starts.
func TestHideSecrets(t *testing.T) {
	t.Setenv("VPO_DATABASE_URL", "postgres://vpo:secret@db/vpo")
	t.Setenv("VPO_AUTH_TOKEN", "0123456789abcdef")
	t.Setenv("VPO_LOG_LEVEL", "debug")
	hideSecrets()
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "VPO_DATABASE_URL=") || strings.HasPrefix(kv, "VPO_AUTH_TOKEN=") {
			t.Errorf("still in the environment of started programs: %s", kv)
		}
	}
	if os.Getenv("VPO_LOG_LEVEL") != "debug" {
		t.Error("hideSecrets removed a variable that is no secret")
	}
}

// TestTagRulesAgree: the worker tag rule is written in three libraries
// that may not import each other (jobs.tags in libs/config, requires in
// libs/policy, the store's own check); they accept the same tags.
func TestTagRulesAgree(t *testing.T) {
	for _, tag := range []string{"gpu", "nvenc", "a", "x.y_z-1", "0gpu", "GPU", "-gpu", ".x", "a b", "é", "", strings.Repeat("a", 64), strings.Repeat("a", 65)} {
		want := store.ValidTag(tag)
		_, err := config.Load(config.Options{Home: t.TempDir(), SystemPath: "/nonexistent/vpo.toml", NumCPU: 1,
			Env: []string{"VPO_JOBS_TAGS=" + tag}})
		// An empty list is no tag at all for the configuration.
		if got := err == nil; got != want && tag != "" {
			t.Errorf("jobs.tags %q accepted %v, the store's rule %v", tag, got, want)
		}
		src := fmt.Sprintf("schema_version: 13\nphases:\n  - name: a\n    requires: [%q]\n", tag)
		if _, err := policy.Parse("p.yaml", []byte(src)); (err == nil) != want {
			t.Errorf("requires %q accepted %v, the store's rule %v (%v)", tag, err == nil, want, err)
		}
	}
}
