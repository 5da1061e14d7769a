// Command vpo is the Video Policy Orchestrator daemon (`vpo serve`) and its
// command-line client.
package main

import (
	"context"
	"os"

	"github.com/vpo-project/vpo/libs/lifecycle"
	"github.com/vpo-project/vpo/services/vpo/internal/app"
)

// Stamped at link time (Bazel x_defs, goreleaser ldflags).
var (
	version = "dev"
	commit  = "unknown"
)

func main() {
	// First of all: a SIGTERM that arrives while the process starts must
	// find a subscription (graceful stop), not the default disposition.
	signals := lifecycle.NewSignals()
	os.Exit(app.Main(context.Background(), os.Args[1:], app.Env{
		Stdout:  os.Stdout,
		Stderr:  os.Stderr,
		Environ: os.Environ(),
		Build:   app.BuildInfo{Version: version, Commit: commit},
		Signals: signals,
		Exit:    os.Exit,
	}))
}
