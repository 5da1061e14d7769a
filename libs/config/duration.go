package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration that decodes from a Go duration string such as
// "30s" or "1m30s", or from a bare integer number of seconds. Zero and
// negative durations are rejected.
type Duration struct{ time.Duration }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := parseDuration(string(text))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// UnmarshalTOML implements toml.Unmarshaler: it accepts a TOML string holding a
// Go duration or a TOML integer holding seconds.
func (d *Duration) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case string:
		return d.UnmarshalText([]byte(v))
	case int64:
		s, err := secondsDuration(v)
		if err != nil {
			return err
		}
		d.Duration = s
		return nil
	default:
		return fmt.Errorf("must be a duration string such as \"30s\" or an integer number of seconds, not %s", tomlType(v))
	}
}

// MarshalText implements encoding.TextMarshaler using the String form.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(d.String()), nil
}

// String formats the duration without redundant zero units: "30s", "1m30s",
// "1h" rather than "1h0m0s".
func (d Duration) String() string {
	return formatDuration(d.Duration)
}

func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

var errNotDuration = errors.New(`not a duration (use e.g. "30s", "1m30s" or a number of seconds)`)

// parseDuration parses a Go duration or a bare integer number of seconds and
// rejects values that are not positive.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errNotDuration
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return secondsDuration(n)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errNotDuration
	}
	if d <= 0 {
		return 0, errors.New("must be greater than zero")
	}
	return d, nil
}

func secondsDuration(n int64) (time.Duration, error) {
	if n <= 0 {
		return 0, errors.New("must be greater than zero")
	}
	if n > math.MaxInt64/int64(time.Second) {
		return 0, errors.New("too large")
	}
	return time.Duration(n) * time.Second, nil
}
