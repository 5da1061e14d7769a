// Package server owns vpo's HTTP surface: the gorilla/mux router that mounts
// the health handlers and the jobs API, and the http.Server actor with its
// timeouts and graceful drain.
package server
