package policy

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/vpo-project/vpo/libs/media"
)

// transcode plans a phase's transcode block. It runs after the phase's
// filters (a removed track is not encoded) and before its container
// block. Each transcode block decides afresh from the source track, so
// with several transcode phases the last one that has a video (or audio)
// part decides for the video (or audio) tracks.
//
// Video: every video track except cover art (the attached_pic
// disposition, or an mjpeg or png picture) is re-encoded when its codec
// is not transcode.video.to or it is larger than the box of
// max_resolution, max_width and max_height; a track already in the
// target codec and within the box is copied (upstream re-encodes only to
// change the codec or the size, too). Scaling only goes down, keeps the
// aspect ratio and rounds each side down to an even number. skip_if
// leaves the video as it is when every condition it sets holds
// (upstream's rule); a bit rate that is not known (neither the stream's
// nor the file's, an upper bound of it) does not hold, and a note says
// so.
//
// Audio: every audio track whose codec is not in transcode.audio.preserve
// is encoded to transcode.audio.to at its bitrate, unless it is already
// in that codec (then it is copied). skip_if is the video's alone: audio
// follows the audio settings whatever it says.
func (pl *planner) transcode(ph *Phase, tc *Transcode) {
	if tc.Video != nil {
		var video []*track
		for _, t := range pl.of(media.StreamVideo) {
			if !isCoverArt(t.s) {
				video = append(video, t)
			}
		}
		for _, t := range video {
			pl.transcodeVideo(ph, t, tc.Video, len(video) > 1)
		}
	}
	if tc.Audio != nil {
		for _, t := range pl.of(media.StreamAudio) {
			pl.transcodeAudio(ph, t, tc.Audio)
		}
	}
}

// isCoverArt reports whether a video stream is a picture (cover art)
// rather than the film.
func isCoverArt(s *media.Stream) bool {
	return s.AttachedPic || s.Codec == "mjpeg" || s.Codec == "png"
}

// note records on t something the policy asked for but leaves undone,
// replacing an earlier note: a later transcode phase decides afresh.
func (t *track) note(ph *Phase, format string, args ...any) {
	t.notes = append(t.notes, fmt.Sprintf("phase %q: ", ph.Name)+fmt.Sprintf(format, args...))
}

// notes returns the notes of the kept tracks, in source order.
func (pl *planner) notes() []string {
	var out []string
	for _, t := range pl.source {
		if !t.removed {
			out = append(out, t.notes...)
		}
	}
	return out
}

// setEncode makes t re-encoded by enc (nil: copied as it is) with the
// result's codec and size, recording the change with reason.
func (pl *planner) setEncode(ph *Phase, t *track, enc *Encode, width, height int, reason string) {
	t.encode = enc
	shownW, shownH := t.s.DisplaySize()
	t.codec, t.width, t.height = t.s.Codec, shownW, shownH
	kind := ChangeTranscodeAudio
	if t.s.Type == media.StreamVideo {
		kind = ChangeTranscodeVideo
	}
	from, to := "", ""
	if enc != nil {
		t.codec, t.width, t.height = enc.Codec, width, height
		if kind == ChangeTranscodeVideo {
			from, to = describeVideo(t.s.Codec, shownW, shownH), describeVideo(enc.Codec, width, height)
		} else {
			from, to = orUnknown(t.s.Codec), enc.Codec
			if enc.Bitrate > 0 {
				to += " " + formatBitrate(enc.Bitrate)
			}
		}
	}
	pl.add(ph, kind, t, attrEncode, from, to, reason)
}

// shown says, for a picture shown turned by a quarter, that its size is
// the displayed one: " as shown (stored 1920x1080, rotated 90°)"; "" for
// other pictures.
func shown(s *media.Stream) string {
	if w, h := s.DisplaySize(); w == s.Width && h == s.Height {
		return ""
	}
	return fmt.Sprintf(" as shown (stored %dx%d, rotated %d°)", s.Width, s.Height, s.Rotation)
}

// describeVideo prints a video stream as "h264 1920x1080" ("h264" when
// the size is not known).
func describeVideo(codec string, width, height int) string {
	codec = orUnknown(codec)
	if width <= 0 || height <= 0 {
		return codec
	}
	return codec + " " + strconv.Itoa(width) + "x" + strconv.Itoa(height)
}

// orUnknown returns codec, or "unknown codec" when it is empty.
func orUnknown(codec string) string {
	if codec == "" {
		return "unknown codec"
	}
	return codec
}

// transcodeVideo plans one video track; several says the file has more
// than one video track to encode, so notes name the track.
func (pl *planner) transcodeVideo(ph *Phase, t *track, vt *VideoTranscode, several bool) {
	who := ""
	if several {
		who = fmt.Sprintf("video track %d: ", t.s.Index)
	}
	t.notes = nil
	if vt.SkipIf != nil {
		skip, why, unknown := pl.skipIf(t, vt.SkipIf)
		if skip {
			t.note(ph, "transcode skipped: %s%s", who, strings.Join(why, "; "))
			pl.setEncode(ph, t, nil, 0, 0, "")
			return
		}
		if unknown {
			t.note(ph, "%stranscode.video.skip_if.bitrate_under: the video's bit rate is unknown, so the condition does not hold and the video is not skipped", who)
		}
	}
	// ffmpeg turns a rotated picture upright when it decodes it: the
	// encode works on the size as shown.
	shownW, shownH := t.s.DisplaySize()
	boxW, boxH, boxName := videoBox(vt)
	width, height, scale := scaleDown(shownW, shownH, boxW, boxH)
	sameCodec := sameVideoCodec(t.s.Codec, vt.To)
	if sameCodec && !scale {
		within := ""
		if boxName != "" {
			within = " and within " + boxName
		}
		t.note(ph, "%snot re-encoded: the video is already %s%s", who, vt.To, within)
		pl.setEncode(ph, t, nil, 0, 0, "")
		return
	}
	var reasons []string
	if !sameCodec {
		reasons = append(reasons, fmt.Sprintf("%s is %s and transcode.video.to is %s", t.describe(), orUnknown(t.s.Codec), vt.To))
	}
	if scale {
		reasons = append(reasons, fmt.Sprintf("%s is %dx%d%s, larger than %s", t.describe(), shownW, shownH, shown(t.s), boxName))
	}
	// A copy of the policy's settings (nil when it has no extra
	// arguments): the plan must not share them with the policy.
	enc := &Encode{Codec: vt.To, Preset: vt.Preset, Tune: vt.Tune,
		Bitrate: vt.TargetBitrate, MinBitrate: vt.MinBitrate, MaxBitrate: vt.MaxBitrate,
		HW: vt.HW, HWFallback: vt.HWFallback, FFmpegArgs: append([]string(nil), vt.FFmpegArgs...)}
	if vt.CRF != nil {
		crf := *vt.CRF
		enc.CRF = &crf
	}
	if scale {
		enc.Scale, enc.ScaleAlgorithm = true, vt.ScaleAlgorithm
	}
	pl.setEncode(ph, t, enc, width, height, strings.Join(reasons, "; "))
}

// skipIf evaluates skip_if for a video track: whether every condition
// set holds, what each says, and whether a bit rate condition failed
// only for want of a known bit rate.
func (pl *planner) skipIf(t *track, si *SkipIf) (skip bool, why []string, unknownRate bool) {
	s := t.s
	skip = si.CodecMatches != nil || si.ResolutionWithin != "" || si.BitrateUnder > 0
	if si.CodecMatches != nil {
		match := false
		for _, c := range si.CodecMatches {
			match = match || sameVideoCodec(s.Codec, c)
		}
		skip = skip && match
		why = append(why, "skip_if.codec_matches: the video is "+orUnknown(s.Codec))
	}
	if si.ResolutionWithin != "" {
		w, h, _ := resolutionBox(si.ResolutionWithin)
		sw, sh := s.DisplaySize()
		within := sw > 0 && sh > 0 && sw <= w && sh <= h
		skip = skip && within
		why = append(why, fmt.Sprintf("skip_if.resolution_within: %dx%d%s is within %s", sw, sh, shown(s), si.ResolutionWithin))
	}
	if si.BitrateUnder > 0 {
		rate, whose := s.BitRate, ""
		if rate == 0 && pl.bitRate > 0 {
			// The file's rate bounds the video's from above: under
			// the limit, the video is too.
			rate, whose = pl.bitRate, "the file's "
		}
		under := rate > 0 && rate < si.BitrateUnder
		unknownRate = rate == 0 && skip
		skip = skip && under
		why = append(why, fmt.Sprintf("skip_if.bitrate_under: %s%s is under %s", whose, formatRate(rate), formatBitrate(si.BitrateUnder)))
	}
	return skip, why, unknownRate
}

// videoBox returns the largest width and height transcode.video allows
// (0: no limit) and names the setting that sets it.
func videoBox(vt *VideoTranscode) (width, height int, name string) {
	var names []string
	if vt.MaxResolution != "" {
		width, height, _ = resolutionBox(vt.MaxResolution)
		names = append(names, "transcode.video.max_resolution "+vt.MaxResolution)
	}
	if vt.MaxWidth > 0 && (width == 0 || vt.MaxWidth < width) {
		width = vt.MaxWidth
		names = append(names, "transcode.video.max_width "+strconv.Itoa(vt.MaxWidth))
	}
	if vt.MaxHeight > 0 && (height == 0 || vt.MaxHeight < height) {
		height = vt.MaxHeight
		names = append(names, "transcode.video.max_height "+strconv.Itoa(vt.MaxHeight))
	}
	return width, height, strings.Join(names, " and ")
}

// scaleDown fits width x height into maxW x maxH (0: no limit), keeping
// the aspect ratio and rounding each side down to an even number; scale
// is false (and the size unchanged) when it fits already or is unknown.
func scaleDown(width, height, maxW, maxH int) (w, h int, scale bool) {
	if width <= 0 || height <= 0 || (maxW == 0 || width <= maxW) && (maxH == 0 || height <= maxH) {
		return width, height, false
	}
	if maxW > 0 && (maxH == 0 || maxW*height <= maxH*width) {
		w, h = maxW, height*maxW/width
	} else {
		w, h = width*maxH/height, maxH
	}
	return max(w&^1, 2), max(h&^1, 2), true
}

// transcodeAudio plans one audio track.
func (pl *planner) transcodeAudio(ph *Phase, t *track, at *AudioTranscode) {
	if preserved(t.s.Codec, t.s.Profile, at.Preserve) || sameCodec(t.s.Codec, at.To) {
		pl.setEncode(ph, t, nil, 0, 0, "")
		return
	}
	reason := fmt.Sprintf("%s is %s, not in transcode.audio.preserve %s, and transcode.audio.to is %s",
		t.describe(), orUnknown(t.s.Codec), languageList(at.Preserve), at.To)
	pl.setEncode(ph, t, audioEncode(at.To, at.Bitrate), 0, 0, reason)
}

// audioEncode encodes audio to codec at bitrate, or with no bit rate for
// a lossless codec (flac, pcm), whose size follows from the sound.
func audioEncode(codec string, bitrate int64) *Encode {
	if codec == "flac" || strings.HasPrefix(codec, "pcm") {
		bitrate = 0
	}
	return &Encode{Codec: codec, Bitrate: bitrate}
}

// encodeUnfitAudio encodes the audio tracks the target container cannot
// hold, for container.on_incompatible_codec: transcode: to the phase's
// transcode.audio.to at its bitrate when the container holds that codec,
// else to aac at 192k.
func (pl *planner) encodeUnfitAudio(ph *Phase, target string) {
	enc := Encode{Codec: "aac", Bitrate: 192_000}
	if tc := ph.Transcode; tc != nil && tc.Audio != nil && fits(target, media.StreamAudio, tc.Audio.To) {
		enc = *audioEncode(tc.Audio.To, tc.Audio.Bitrate)
	}
	for _, t := range pl.of(media.StreamAudio) {
		if t.fits(target) {
			continue
		}
		e := enc
		reason := fmt.Sprintf("%s is %s, which %s cannot hold, and container.on_incompatible_codec is transcode", t.describe(), orUnknown(t.codec), target)
		pl.setEncode(ph, t, &e, 0, 0, reason)
	}
}

// encodes reports whether a kept track is re-encoded.
func (pl *planner) encodes() bool {
	for _, t := range pl.tracks {
		if t.encode != nil {
			return true
		}
	}
	return false
}

// dropUnfit removes the subtitle tracks, attachments and data tracks
// (such as a QuickTime timecode) the target container cannot hold,
// saying why. It runs for a file that is re-encoded anyway (ffmpeg
// writes it), where losing them beats failing the encode; the other
// tracks still have to fit.
func (pl *planner) dropUnfit(ph *Phase, target string) {
	name := pl.name(target)
	for _, t := range pl.tracks {
		if t.fits(target) {
			continue
		}
		switch t.s.Type {
		case media.StreamSubtitle:
			pl.remove(ph, t, fmt.Sprintf("%s: %s cannot hold %s subtitles", t.describe(), name, orUnknown(t.codec)))
		case media.StreamAttachment:
			pl.remove(ph, t, fmt.Sprintf("%s: %s cannot hold attachments", t.describe(), name))
		case media.StreamData:
			what := "a data track"
			if t.s.Tag == "tmcd" {
				what = "a timecode (tmcd) data track"
			}
			pl.remove(ph, t, fmt.Sprintf("%s: %s cannot keep %s when ffmpeg re-encodes the file", t.describe(), name, what))
		}
	}
	pl.compact()
}

// fits reports whether t, as the phases left it, can be copied into
// container: by its codec, or as cover art (an mjpeg or png picture with
// the attached_pic disposition), which ffmpeg copies into mp4 and mkv.
func (t *track) fits(container string) bool {
	if fits(container, t.s.Type, t.codec) {
		return true
	}
	cover := t.s.Type == media.StreamVideo && t.s.AttachedPic && t.encode == nil && (t.codec == "mjpeg" || t.codec == "png")
	return cover && (container == ContainerMP4 || container == ContainerMKV)
}
