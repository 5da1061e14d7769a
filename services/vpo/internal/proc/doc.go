// Package proc runs the external tools vpo drives (ffprobe, ffmpeg,
// mkvmerge, mkvpropedit): each in its own process group, with a context,
// bounded output, and the whole group killed when the tool exits, when the
// context ends, and (through the parent-death signal) when vpo dies.
package proc
