// Package policy reads VPO policy files (upstream VPO's schema_version 13:
// a config block and ordered phases), validates them with errors that name
// the file, the line and the key, and turns a policy and a probed media file
// into a Plan: the ordered list of changes that would bring the file in
// line with the policy. Planning is a pure, deterministic function; this
// package runs no tools and changes no files.
package policy
