// Package server owns vpo's HTTP surface: the gorilla/mux router that mounts
// the health handlers, the jobs, policies and hooks APIs (the Sonarr and
// Radarr webhooks), and the http.Server actor with its timeouts and
// graceful drain.
package server
