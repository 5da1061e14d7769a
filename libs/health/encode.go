package health

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// The fixed fields of a report are written by hand rather than through
// encoding/json's reflection (a tenth of /health's time under load); the
// output is byte for byte what encoding/json writes (a test compares
// them, strings with every escape included).

// appendFixed appends the fixed fields of r as a JSON object, without its
// closing brace.
func appendFixed(b []byte, r Report) []byte {
	b = append(b, `{"status":`...)
	b = appendString(b, r.Status)
	b = append(b, `,"database":`...)
	b = appendString(b, r.Database)
	b = append(b, `,"uptime_seconds":`...)
	b = appendFloat(b, r.UptimeSeconds)
	b = append(b, `,"version":`...)
	b = appendString(b, r.Version)
	b = append(b, `,"shutting_down":`...)
	b = strconv.AppendBool(b, r.ShuttingDown)
	b = append(b, `,"ready":`...)
	b = strconv.AppendBool(b, r.Ready)
	b = append(b, `,"config_reload_count":`...)
	b = strconv.AppendInt(b, int64(r.ConfigReloadCount), 10)
	b = append(b, `,"last_config_reload":`...)
	if r.LastConfigReload == nil {
		b = append(b, "null"...)
	} else {
		b = appendTime(b, *r.LastConfigReload)
	}
	b = append(b, `,"config_reload_error":`...)
	if r.ConfigReloadError == nil {
		b = append(b, "null"...)
	} else {
		b = appendString(b, *r.ConfigReloadError)
	}
	return b
}

// appendFloat writes f as encoding/json does (NaN and infinities, which
// it refuses, as 0: an uptime is neither).
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, '0')
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 → e-9, as encoding/json writes it.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendTime writes t as time.Time's MarshalJSON does (RFC 3339 with
// nanoseconds), for the years it accepts.
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string as encoding/json does: HTML
// characters, control characters, U+2028 and U+2029 escaped, invalid UTF-8
// replaced by U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
