// Package library keeps the configured libraries on autopilot: it watches
// their directories with inotify (fsnotify), holds a new or changed video
// file until its size and mtime stayed the same for the library's hold,
// then queues one apply job of the library's policy for it (or a scan,
// for a library without a policy), never two queued for the same file and
// policy, and none for content the policy was already applied to. A
// removed file is marked missing. Every library is also rescanned at
// start-up, every rescan_interval and on request; a library whose watch
// fails (inotify's limits, an overflowing event queue) falls back to
// rescans alone and says so in its Status.
//
// The Manager is one lifecycle actor; each library runs in a goroutine of
// its own that owns its watcher and its hold queue.
package library
