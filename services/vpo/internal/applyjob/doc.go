// Package applyjob is the "apply" and "transcode" job kinds: it applies a policy (read from
// the policies directory when the job starts) to one file or to the video
// files of a directory, records the plans, waits for approval when the
// configuration asks for it, executes plans through the apply executor and
// records what changed in the file's history.
//
// A directory job hands each video file to a child job (jobs.Children) and
// waits for them without holding a worker; its result counts the files by
// outcome. A directory dry run plans the files whose stored probe still
// matches in the job itself, in batches, and hands only the others to
// child jobs. A file job reuses the probe a scan stored when the file's size
// and modification time still match, and probes it otherwise.
//
// Each successful apply of a file that is not a dry run — a plan carried
// out (an approved one too) or a plan with nothing to do — records the
// policy as applied to the file at its size and mtime as they are then
// (store.MarkApplied), so that a library does not queue the file for the
// policy again until it changes.
//
// Only a "transcode" job executes a plan that re-encodes a track: an apply
// job of one file whose plan encodes hands the file to one transcode child
// (an approved plan too), and a directory apply of a policy with a
// transcode block makes transcode children, so that jobs.limits can cap
// the encodes. A transcode job otherwise does what an apply job does; its
// result adds the encoder and hardware method used, and its progress is
// the encoder's (percent, speed and position, time left).
package applyjob
