package apply_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/vpo-project/vpo/services/vpo/internal/proc"
)

// TestMain makes the fixtures' directory, and runs the helper modes the
// tests start this binary in (see chaos_test.go).
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(childMain())
	}
	dir, err := os.MkdirTemp("", "vpo-apply-fixtures-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fixturesDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// propEditor is a stand-in for package inplace's Editor: it runs
// mkvpropedit on the file directly, then verify; it restores nothing.
type propEditor struct {
	calls int
}

func (p *propEditor) Edit(ctx context.Context, path string, args []string, verify func(context.Context) error) error {
	p.calls++
	res, err := proc.Run(ctx, proc.Cmd{Path: "mkvpropedit", Args: append([]string{path}, args...), MaxStdout: 8 << 10, MaxStderr: 8 << 10})
	if err != nil {
		return err
	}
	if res.Exit != nil {
		return errors.New("mkvpropedit: " + res.Exit.Error() + ": " + strings.TrimSpace(string(res.Stdout)))
	}
	return verify(ctx)
}

func (p *propEditor) Recover(ctx context.Context) ([]string, error) { return nil, nil }
