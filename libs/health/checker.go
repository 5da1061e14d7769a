package health

import "context"

// Checker reports whether a dependency, such as the database, is usable.
// Check must honour ctx (it is bounded by Options.Timeout) and must not
// change any state.
type Checker interface {
	Check(ctx context.Context) error
}

// CheckerFunc adapts a function to Checker.
type CheckerFunc func(ctx context.Context) error

// Check calls f(ctx).
func (f CheckerFunc) Check(ctx context.Context) error {
	return f(ctx)
}
