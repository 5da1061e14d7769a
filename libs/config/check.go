package config

import (
	"fmt"
	"net"
	"strconv"
)

// CheckServe applies the checks that concern the combination of settings
// rather than one value, and that matter to a daemon about to serve (client
// commands load the same configuration without them). `vpo serve` and `vpo
// config check` both call it, so check passes exactly when serve would
// start. Today it refuses a non-loopback server.bind without
// server.auth_token: the jobs API would be open to the network. The error
// is an *Error naming where server.bind was set.
func (l *Loaded) CheckServe() error {
	s := l.Config.Server
	if s.AuthToken != "" || s.LoopbackBind() {
		return nil
	}
	e := &Error{
		Key: "server.bind",
		Msg: fmt.Sprintf("refusing to listen on non-loopback address %s without [server] auth_token (or VPO_AUTH_TOKEN)", s.Bind),
	}
	o := l.origins["server.bind"]
	e.Source = o.source
	switch o.source {
	case SourceFile:
		e.File, e.Line, e.Value = o.file, o.line, strconv.Quote(s.Bind)
	case SourceEnv, SourceFlag:
		e.Name, e.Value = o.name, s.Bind
	}
	return e
}

// LoopbackBind reports whether Bind only reaches this machine: "localhost"
// or a loopback address (127.0.0.0/8, ::1).
func (s Server) LoopbackBind() bool {
	if s.Bind == "localhost" {
		return true
	}
	ip := net.ParseIP(s.Bind)
	return ip != nil && ip.IsLoopback()
}
