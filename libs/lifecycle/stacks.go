package lifecycle

import (
	"fmt"
	"io"
	"runtime/pprof"
)

// WriteGoroutines writes the stack of every goroutine to w, in the format
// of an unrecovered panic (what Go's default SIGQUIT handler prints).
func WriteGoroutines(w io.Writer) error {
	if err := pprof.Lookup("goroutine").WriteTo(w, 2); err != nil {
		return fmt.Errorf("write goroutine stacks: %w", err)
	}
	return nil
}
