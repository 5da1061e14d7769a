package apply

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/vpo-project/vpo/libs/media"
	"github.com/vpo-project/vpo/libs/policy"
)

// propEditArgs returns mkvpropedit's arguments (after the file's path)
// that turn src's tracks into target's: both flags of every track, and
// the title and language where they differ. tracks maps src's stream
// indexes to Matroska track numbers.
func propEditArgs(src media.File, target policy.Target, tracks map[int]mkvTrack) []string {
	var args []string
	for _, t := range target.Tracks {
		if t.Type == string(media.StreamAttachment) {
			continue
		}
		s, _ := streamByIndex(src, t.Source)
		args = append(args, "--edit", "track:@"+strconv.Itoa(tracks[t.Source].Number),
			"--set", "flag-default="+flag(t.Default), "--set", "flag-forced="+flag(t.Forced))
		switch {
		case t.Title == s.Title:
		case t.Title == "":
			args = append(args, "--delete", "name")
		default:
			args = append(args, "--set", "name="+t.Title)
		}
		if lang := media.NormalizeLanguage(t.Language); lang != s.Language {
			args = append(args, "--set", "language="+lang)
		}
	}
	return args
}

// mkvMergeArgs returns mkvmerge's arguments that write src (the Matroska
// file at path) as target to out. tracks maps src's stream indexes to
// mkvmerge's IDs.
func mkvMergeArgs(path, out string, src media.File, target policy.Target, tracks map[int]mkvTrack) []string {
	args := []string{"--gui-mode", "--output", out}
	kept := map[media.StreamType][]string{}
	has := map[media.StreamType]bool{}
	for _, s := range src.Streams {
		has[s.Type] = true
	}
	var order, perTrack []string
	for _, t := range target.Tracks {
		id := strconv.Itoa(tracks[t.Source].ID)
		typ := media.StreamType(t.Type)
		kept[typ] = append(kept[typ], id)
		if typ == media.StreamAttachment {
			continue
		}
		order = append(order, "0:"+id)
		perTrack = append(perTrack, "--default-track-flag", id+":"+flag(t.Default),
			"--forced-display-flag", id+":"+flag(t.Forced), "--track-name", id+":"+t.Title)
		s, _ := streamByIndex(src, t.Source)
		if lang := media.NormalizeLanguage(t.Language); lang != s.Language {
			perTrack = append(perTrack, "--language", id+":"+lang)
		}
	}
	for _, sel := range []struct {
		typ      media.StreamType
		keep, no string
	}{
		{media.StreamVideo, "--video-tracks", "--no-video"},
		{media.StreamAudio, "--audio-tracks", "--no-audio"},
		{media.StreamSubtitle, "--subtitle-tracks", "--no-subtitles"},
		{media.StreamAttachment, "--attachments", "--no-attachments"},
	} {
		switch {
		case len(kept[sel.typ]) > 0:
			args = append(args, sel.keep, strings.Join(kept[sel.typ], ","))
		case has[sel.typ]:
			args = append(args, sel.no)
		}
	}
	args = append(args, perTrack...)
	args = append(args, path)
	return append(args, "--track-order", strings.Join(order, ","))
}

// ffmpegArgs returns ffmpeg's arguments that copy target's streams of the
// file at path to out in container target.Container, without re-encoding:
// tracks in target order, then attachments; every track's disposition
// set, its title set or cleared, its language set where it differs.
func ffmpegArgs(path, out string, src media.File, target policy.Target) []string {
	args := []string{"-nostdin", "-v", "error", "-y", "-progress", "pipe:1", "-stats_period", "0.5", "-i", path}
	ts := tracksFirst(target.Tracks)
	for _, t := range ts {
		args = append(args, "-map", "0:"+strconv.Itoa(t.Source))
	}
	args = append(args, "-map_metadata", "0", "-c", "copy", "-max_muxing_queue_size", "4096")
	for _, t := range ts {
		if target.Container == containerMP4 && t.Codec == "flac" {
			// ffmpeg 5 writes FLAC into MP4 only as an experimental
			// feature.
			args = append(args, "-strict", "experimental")
			break
		}
	}
	args = append(args, ffmpegMetadataArgs(src, ts)...)
	return append(args, "-f", ffmpegFormat(target.Container), out)
}

// ffmpegMetadataArgs returns ffmpeg's output options that give the
// output tracks ts (in output order, attachments last) their flags and
// titles, and their languages where they differ from src's.
func ffmpegMetadataArgs(src media.File, ts []policy.TargetTrack) []string {
	var args []string
	for k, t := range ts {
		if t.Type == string(media.StreamAttachment) {
			continue
		}
		n := strconv.Itoa(k)
		s, _ := streamByIndex(src, t.Source)
		d := disposition(t)
		if s.AttachedPic && t.Encode == nil {
			// A cover stays a cover (mp4 writes it as such only then).
			d = strings.TrimPrefix(d+"+attached_pic", "0+")
		}
		args = append(args, "-disposition:"+n, d, "-metadata:s:"+n, "title="+t.Title)
		if lang := media.NormalizeLanguage(t.Language); lang != s.Language {
			args = append(args, "-metadata:s:"+n, "language="+lang)
		}
	}
	return args
}

// ffmpegFormat is ffmpeg's muxer for a target container.
func ffmpegFormat(container string) string {
	if container == containerMP4 {
		return "mp4"
	}
	return "matroska"
}

// disposition is ffmpeg's -disposition value for t's flags.
func disposition(t policy.TargetTrack) string {
	var d []string
	if t.Default {
		d = append(d, "default")
	}
	if t.Forced {
		d = append(d, "forced")
	}
	if len(d) == 0 {
		return "0"
	}
	return strings.Join(d, "+")
}

// flag is mkvtoolnix's spelling of a boolean.
func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// quoteArgs shows a command line in a log.
func quoteArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = fmt.Sprintf("%q", a)
	}
	return strings.Join(q, " ")
}
