package app

import "net"

// loopbackBind reports whether bind only reaches this machine.
func loopbackBind(bind string) bool {
	if bind == "localhost" {
		return true
	}
	ip := net.ParseIP(bind)
	return ip != nil && ip.IsLoopback()
}
