// Package integration holds black-box tests that boot the real vpo binary:
// signals, shutdown deadlines, start-up failures, configuration layering,
// logging and systemd notification. Under Bazel the binary comes from the
// data dependency (VPO_BINARY, a runfiles path); under `go test` it is built
// once into a temporary directory.
package integration
