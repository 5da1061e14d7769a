// Command vpo is the Video Policy Orchestrator daemon (`vpo serve`) and its
// command-line client.
package main

import (
	"context"
	"os"

	"github.com/vpo-project/vpo/libs/lifecycle"
	"github.com/vpo-project/vpo/services/vpo/cmd/vpo/internal/early"
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
	// Package early subscribed while Go initialised the packages; here the
	// daemon's signal handling takes those channels over.
	sub := early.Signals()
	signals := lifecycle.AdoptSignals(lifecycle.SignalChannels{Term: sub.Term, Hup: sub.Hup, Quit: sub.Quit, Pipe: sub.Pipe})
	os.Exit(app.Main(context.Background(), os.Args[1:], app.Env{
		Stdout:  os.Stdout,
		Stderr:  os.Stderr,
		Environ: os.Environ(),
		Build:   app.BuildInfo{Version: version, Commit: commit},
		Signals: signals,
		Exit:    os.Exit,
	}))
}
