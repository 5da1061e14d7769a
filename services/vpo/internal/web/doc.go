// Package web is vpo's dashboard: server-rendered pages (html/template,
// embedded with the binary), one small script for live updates and
// actions, and the login sessions that guard them when an auth token is
// set. The pages read the store; every change they make goes through the
// JSON API.
package web
