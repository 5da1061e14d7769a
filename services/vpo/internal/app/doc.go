// Package app is the vpo command line: it parses arguments with kingpin,
// wires the libraries together for `vpo serve`, and maps every failure to a
// documented exit code. Only this package knows all the parts.
package app
