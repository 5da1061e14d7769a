// Package apply carries out a policy.Plan on one media file with
// mkvpropedit, mkvmerge or ffmpeg, re-encoding only the tracks the plan
// gives an Encode, and never leaving the file's path without a complete
// file.
//
// # Which executor
//
// Executor.Apply picks one tool per Request:
//
//   - an empty plan: "none"; the file is not touched (only probed);
//   - a Matroska source, a Matroska target, the same tracks and
//     attachments in the same order, only default/forced flags, titles or
//     languages changing: "mkvpropedit", editing the file in place through
//     Options.InPlace (the journaled editor of package inplace); without
//     one, or for a file with other hard links (an edit in place would
//     change them too), the same change is made by an mkvmerge rewrite;
//   - a Matroska source and target with tracks removed or reordered, or
//     attachments removed: "mkvmerge";
//   - an MP4 target, or any change of container: "ffmpeg" with
//     `-c copy`;
//   - a target with tracks to re-encode (TargetTrack.Encode; their Codec
//     is the encoded one, every other track keeps its source's):
//     "transcode", ffmpeg re-encoding those tracks and copying the others
//     (arguments by package transcode), container change included. It is
//     a rewrite like the others (temporary file, journal, verification,
//     replacement, Recover). ffmpeg runs at Options.Nice (SetNice changes
//     it live) in the idle I/O class, its -progress output is read from a
//     pipe and reported through Request.Progress whenever the encode
//     advanced; the hardware method (hw: auto, vaapi, nvenc, qsv) is probed
//     once per process and ffmpeg (package transcode's Prober), and a named
//     method that cannot work without hw_fallback is a permanent error.
//     Result.Encoder and Result.HW say what encoded.
//
// Rewrites report progress too, so that a long remux is not taken for a
// stalled one: mkvmerge runs with --gui-mode (its "#GUI#progress N%"
// lines; its errors and warnings are kept as "Error: …" and "Warning: …"),
// an ffmpeg copy with -progress, read as a transcode's.
//
// Matroska track numbers (mkvpropedit's track:@N) and mkvmerge's track and
// attachment IDs are read from `mkvmerge -J` of the source and matched to
// ffprobe's stream indexes by order and type: ffprobe lists a Matroska
// file's tracks in their order, then its attachments. A file whose two
// listings do not match is an error, not a guess.
//
// # Safe replacement
//
// A rewrite never writes to the file itself. Apply records an intent in
// a journal file in Options.JournalDir (fsynced, with its directory), then
// has the tool write a temporary file in the file's own directory, named
// ".NAME.vpo-tmp-RANDOM.EXT" (hidden and recognisable), created empty with
// mode 0600. The temporary file is probed with ffprobe and compared with
// the plan's Target: track count, types, codecs, languages, titles,
// default and forced flags, the width and height of a re-encoded video
// track that the target gives, and a duration within 0.5 s of the
// source's; any difference is ErrVerify naming it. Then it gets the original's
// owner, group (when vpo runs as root or owns the file), mode and
// modification time, is fsynced, and is renamed over the original (same
// container) or to the new name (NAME.mkv for NAME.mp4), after which the
// old file is removed. With KeepOriginal the original is first hard-linked
// (or, where links are not possible, copied) to NAME.original.EXT
// (NAME.original.2.EXT, ... when that exists), or renamed there on a
// change of container, so that the path always holds a complete file.
// The directory is fsynced and the journal record removed last.
//
// When Apply fails or its context ends, the tool (run by package proc, in
// its own process group) is killed, the temporary file and the journal
// record are removed and the original is untouched. When vpo is killed,
// Recover, called at start-up, removes what the journal names: temporary
// files (only those matching the name pattern, in the recorded file's
// directory and owned by vpo's user) and a NAME.original.EXT link made
// before the rename that did not happen; nothing that is not recorded is
// removed. A change of container killed between the result's rename and
// the removal of the original leaves both files (NAME.mkv and NAME.mp4),
// each complete: Recover does not guess which one to remove. The result
// takes the path by exchanging names with it, so the temporary name holds
// the replaced original until it is removed: killed in between, Recover
// removes it as any temporary file (its NAME.original.EXT link, when
// kept, stays).
//
// # Checks before any change
//
// Each failure touches nothing: a file that is not a regular file; a file
// whose size or modification time differ from the plan's (ErrChanged); a
// file modified or changed (ctime) less than MinFileAge ago
// (ErrStillChanging); a file or directory that is read-only (no write
// permission bits, or not writable for vpo, or a read-only mount); less
// free space in the directory than the file's size plus 5% plus 64 MiB
// for a rewrite (ErrNoSpace; for a transcode at a constant quality the
// same, since the result may be larger than the source; with bitrates for
// every encoded track, their bitrates × the duration + 10%, plus the
// copied tracks' share of the source, plus 64 MiB); another Apply on the same path in this
// process (ErrBusy); a container change whose new name is already taken.
// Just before the rename (and before mkvpropedit runs, and after it), the
// file at the path is compared with the one checked: a different device or
// inode, size, modification time or change time (ctime) means it was
// written to or replaced (a copy with the same size and mtime moved over
// it) while vpo worked, and it is left as it is (ErrChanged). The result
// takes the path by an atomic exchange of the two names, after which the
// file it took the place of is checked once more (device and inode); a
// different one gets its name back (ErrChanged): vpo never renames a result
// over a file it did not read. An in-place edit goes to the file the
// editor opened (mkvpropedit gets it as an open file, not by its path), is
// undone on that file when another one is at the path once mkvpropedit
// has run (ErrChanged), and the edited file's times are set back on that
// file only: one that took the name right after the edit is left as it is
// (ErrChanged). A disk that fills up during the write is ErrNoSpace too
// ("disk full").
//
// # Failures another attempt cannot mend
//
// Errors that stay until someone changes the file, its directory or the
// policy match ErrPermanent (errors.Is): not a regular file, read-only or
// not writable for vpo, a taken result name, not a media file, a plan no
// executor can carry out. A caller that retries failures (the apply job)
// fails these at the first attempt.
package apply
