// Command vpo is the Video Policy Orchestrator daemon (`vpo serve`) and its
// command-line client.
package main

import (
	"context"
	"os"

	"github.com/vpo-project/vpo/services/vpo/internal/app"
)

// Stamped at link time (Bazel x_defs, goreleaser ldflags).
var (
	version = "dev"
	commit  = "unknown"
)

func main() {
	os.Exit(app.Main(context.Background(), os.Args[1:], app.Env{
		Stdout:  os.Stdout,
		Stderr:  os.Stderr,
		Environ: os.Environ(),
		Build:   app.BuildInfo{Version: version, Commit: commit},
	}))
}
