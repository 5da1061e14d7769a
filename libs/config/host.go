package config

import (
	"net"
	"strings"
)

// NormalizeHost returns the canonical form of a bare host name or IP
// address as it may appear in server.allowed_hosts or, without its port, in
// an HTTP Host header: lower case, without a trailing dot, an IPv6 address
// without brackets and in its shortest form. It reports false for anything
// else (empty, a port, a scheme, a path, a wildcard, bad characters).
func NormalizeHost(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if inner, ok := strings.CutPrefix(s, "["); ok {
		inner, ok = strings.CutSuffix(inner, "]")
		ip := net.ParseIP(inner)
		if !ok || ip == nil || ip.To4() != nil {
			return "", false
		}
		return ip.String(), true
	}
	if ip := net.ParseIP(s); ip != nil {
		return ip.String(), true
	}
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return "", false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 {
			return "", false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", false
			}
		}
	}
	return s, true
}
