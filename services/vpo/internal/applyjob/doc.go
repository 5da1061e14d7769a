// Package applyjob is the "apply" job kind: it applies a policy (read from
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
package applyjob
