package policy

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/vpo-project/vpo/libs/media"
)

// Errors Plan wraps; the message says which tracks and why.
var (
	// ErrUnsupported: the policy uses features vpo does not run yet
	// (Check reports them), so it plans nothing.
	ErrUnsupported = errors.New("the policy uses features vpo does not support yet")
	// ErrIncompatibleCodec: a track cannot go into the target container
	// and container.on_incompatible_codec is error.
	ErrIncompatibleCodec = errors.New("incompatible codec")
	// ErrNotEnoughAudio: keep_audio would leave fewer audio tracks than
	// its minimum and its fallback does not allow it.
	ErrNotEnoughAudio = errors.New("not enough audio tracks")
	// ErrProbe: the probe cannot be planned from: a stored probe that
	// left streams out, or two streams with one index.
	ErrProbe = errors.New("incomplete probe")
	// ErrContainer: the file needs changes but is in a container vpo's
	// executors do not write (they handle mkv and mp4).
	ErrContainer = errors.New("container not supported")
)

// Plan returns what applying the policy to f would change. It is pure
// and deterministic: the same policy and file give the same plan.
//
// The phases run in order, each on the result of the one before. Within
// a phase: the track actions (clear forced, default, titles), the audio
// filter, the subtitle filter, the attachment filter, the transcode
// block, the container, the track order and the default flags. Changes are the net result: a flag
// a phase sets and a later phase clears again is no change. A file that
// already complies gives a plan with no Changes; Target is always the
// file as it would be.
//
// Tracks are recognised once, from the probe: commentary (by the
// "comment" disposition or a title matching config.commentary_patterns,
// see MediaOptions), music and sound effects (by words in the title, as
// upstream VPO does), so clearing a title does not change what a track is.
//
// keep_audio's minimum counts the audio tracks that are neither
// commentary, music nor effects ("main" tracks; every audio track when
// the file has no main one), and never asks for more than the file has:
// a policy cannot leave a file with only its commentary, nor without
// audio. When fewer main tracks match keep_audio.languages, the
// fallback decides: keep_all keeps every audio track, keep_first the
// first ones, content_language those in the language of the first main
// audio track (upstream's notion of the content's language), and error
// (the default) makes Plan fail with ErrNotEnoughAudio. Video is never
// removed.
//
// vpo's executors write mkv and mp4 only: a file in another container
// that needs changes is an error (ErrContainer) unless a container phase
// converts it. Converting to a container that cannot hold a track's
// codec (mp4: no subrip, ass or bitmap subtitles, no truehd, dts, flac
// or attachments; mkv: no mov_text or data streams) fails with
// ErrIncompatibleCodec, or with container.on_incompatible_codec: skip
// gives a plan with Skipped set and no changes. So does any change of an
// mp4 file (ffmpeg rewrites it) that keeps a track ffmpeg cannot copy into
// mp4, such as a timecode (tmcd) data track; the skip then comes from the
// last container block, if any. A plan that re-encodes drops such data
// tracks instead (a remove_track change of the last phase says why).
// Cover art (an mjpeg or png picture with the attached_pic disposition)
// is copied into mp4 and mkv. Messages call a QuickTime file (major_brand
// "qt") mov: see ContainerName.
//
// A transcode block gives the tracks it re-encodes an Encode, a target
// Codec and, for video, the result's Width and Height, with a
// transcode_video or transcode_audio change; what it leaves alone and
// why (skip_if, already in the codec) goes to Notes. See transcode for
// the rules. A file that is re-encoded when a container block converts
// it (the transcode block in the same or an earlier phase) loses the
// subtitle tracks and attachments the new container cannot hold, each a
// remove_track change saying so, instead of failing; audio and video
// still have to fit. Plans of a policy with a transcode block carry the
// Width and Height of every video track in Target.
func (p *Policy) Plan(f media.File) (Plan, error) {
	if len(p.unsupported) > 0 {
		keys := make([]string, len(p.unsupported))
		for i, e := range p.unsupported {
			keys[i] = e.Key
		}
		return Plan{}, fmt.Errorf("%w: %s", ErrUnsupported, strings.Join(keys, ", "))
	}
	if f.StreamsDropped > 0 {
		return Plan{}, fmt.Errorf("%w: the probe leaves out %d of the file's streams, and a plan made from it would drop them; probe the file again", ErrProbe, f.StreamsDropped)
	}
	seen := make(map[int]bool, len(f.Streams))
	for _, s := range f.Streams {
		if seen[s.Index] {
			return Plan{}, fmt.Errorf("%w: two streams have index %d", ErrProbe, s.Index)
		}
		seen[s.Index] = true
	}
	pl := newPlanner(p, f)
	for i := range p.Phases {
		ph := &p.Phases[i]
		skipped, err := pl.phase(ph)
		if err != nil {
			return Plan{}, fmt.Errorf("phase %q: %w", ph.Name, err)
		}
		if skipped != "" {
			return Plan{Policy: p.Name, Changes: []Change{}, Target: sourceTarget(f, p.hasTranscode), Skipped: fmt.Sprintf("phase %q: %s", ph.Name, skipped)}, nil
		}
	}
	changes := pl.net()
	if len(changes) > 0 && pl.container == ContainerMP4 {
		// ffmpeg rewrites the file: every track kept must be one it can
		// copy into mp4 (not a timecode or other data track), as in a
		// conversion.
		if pl.encodes() {
			// ffmpeg re-encodes the file anyway: losing a track it
			// cannot copy beats failing the encode.
			pl.dropUnfit(&p.Phases[len(p.Phases)-1], ContainerMP4)
		}
		if bad := pl.incompatible(ContainerMP4); bad != "" {
			msg := "the plan's changes need ffmpeg to rewrite the " + pl.name(ContainerMP4) + " file, and " + bad
			if skipIncompatible(p.Phases) {
				return Plan{Policy: p.Name, Changes: []Change{}, Target: sourceTarget(f, p.hasTranscode), Skipped: "container.on_incompatible_codec is skip and " + msg}, nil
			}
			return Plan{}, fmt.Errorf("%w: %s", ErrIncompatibleCodec, msg)
		}
		// The result is what ffmpeg writes.
		pl.mp4Limits(&p.Phases[len(p.Phases)-1])
		changes = pl.net()
	}
	if len(changes) > 0 && pl.container != ContainerMKV && pl.container != ContainerMP4 {
		name := pl.container
		if name == "" {
			name = "unknown"
		}
		return Plan{}, fmt.Errorf("%w: the file's container (%s) needs %d changes but vpo writes only mkv and mp4; add a container phase to convert it", ErrContainer, name, len(changes))
	}
	return Plan{Policy: p.Name, Changes: changes, Target: pl.target(), Notes: pl.notes()}, nil
}

// ContainerName is what messages call f's container: ContainerOf(f),
// except "mov" for a QuickTime file (major_brand "qt"), which ffprobe names
// like an mp4 and vpo writes as one.
func ContainerName(f media.File) string {
	c := ContainerOf(f)
	if c == ContainerMP4 && f.Brand == "qt" {
		return "mov"
	}
	return c
}

// name is what messages call container: the source's own name when it is
// the source's container.
func (pl *planner) name(container string) string {
	if container == pl.srcCont && pl.srcName != "" {
		return pl.srcName
	}
	return container
}

// skipIncompatible reports whether the last of phases with a container
// block says on_incompatible_codec: skip.
func skipIncompatible(phases []Phase) bool {
	for i := len(phases) - 1; i >= 0; i-- {
		if c := phases[i].Container; c != nil {
			return c.OnIncompatibleCodec == IncompatibleSkip
		}
	}
	return false
}

// ContainerOf returns the container a probe's format names say: "mkv"
// for matroska or webm, "mp4" for the mov/mp4 family, otherwise the first
// format name ("avi"), "" when there is none.
func ContainerOf(f media.File) string {
	for _, n := range f.FormatNames {
		switch n {
		case "matroska", "webm":
			return ContainerMKV
		case "mov", "mp4", "m4a", "m4v", "3gp", "3g2", "mj2":
			return ContainerMP4
		}
	}
	if len(f.FormatNames) > 0 {
		return f.FormatNames[0]
	}
	return ""
}

// sourceTarget is f as it is; dims sets the video tracks' Width and
// Height (in plans of policies that transcode).
func sourceTarget(f media.File, dims bool) Target {
	t := Target{Container: ContainerOf(f), Tracks: make([]TargetTrack, 0, len(f.Streams))}
	for _, s := range f.Streams {
		tt := TargetTrack{Source: s.Index, Type: string(s.Type), Codec: s.Codec,
			Language: s.Language, Title: s.Title, Default: s.Default, Forced: s.Forced}
		if dims && s.Type == media.StreamVideo {
			tt.Width, tt.Height = s.DisplaySize()
		}
		t.Tracks = append(t.Tracks, tt)
	}
	return t
}

// track is a source stream as the phases change it.
type track struct {
	s *media.Stream
	// codec, width and height are the track's in the result; encode is
	// how it is re-encoded (nil: copied).
	codec            string
	width, height    int
	encode           *Encode
	notes            []string
	title            string
	def, forced      bool
	removed          bool
	music, sfx       bool
	commentary, main bool
}

// attribute names a flag or title of a track, for net changes.
type attribute int

const (
	attrNone attribute = iota
	attrDefault
	attrForced
	attrTitle
	attrOrder
	attrContainer
	attrEncode
)

// event is one change a phase made, before the net result is taken.
type event struct {
	change Change
	attr   attribute
	t      *track
}

// planner holds the state of a file while the phases run.
type planner struct {
	p         *Policy
	source    []*track // in source order
	tracks    []*track // kept, in current order
	container string
	srcCont   string
	// srcName is what the source's container is called in messages:
	// srcCont, or "mov" for a QuickTime file (see ContainerName).
	srcName string
	events  []event
	// bitRate is the file's bit rate (bits per second, 0 unknown).
	bitRate int64
}

// newPlanner starts from f as it is.
func newPlanner(p *Policy, f media.File) *planner {
	pl := &planner{p: p, container: ContainerOf(f), bitRate: f.BitRate}
	pl.srcCont, pl.srcName = pl.container, ContainerName(f)
	all := make([]track, len(f.Streams))
	pl.source = make([]*track, len(f.Streams))
	pl.tracks = make([]*track, len(f.Streams))
	for i := range f.Streams {
		s := &f.Streams[i]
		t := &all[i]
		w, h := s.DisplaySize()
		*t = track{s: s, codec: s.Codec, width: w, height: h, title: s.Title, def: s.Default, forced: s.Forced, commentary: s.Commentary}
		if s.Type == media.StreamAudio {
			t.sfx = isSFX(s.Title)
			t.music = !t.sfx && isMusic(s.Title)
			t.main = !t.sfx && !t.music && !t.commentary
		}
		pl.source[i], pl.tracks[i] = t, t
	}
	return pl
}

// add records a change a phase made.
func (pl *planner) add(ph *Phase, kind ChangeKind, t *track, attr attribute, from, to, reason string) {
	c := Change{Kind: kind, Track: -1, From: from, To: to, Phase: ph.Name, Reason: reason}
	if t != nil {
		c.Track, c.TrackType = t.s.Index, string(t.s.Type)
	}
	pl.events = append(pl.events, event{change: c, attr: attr, t: t})
}

// of returns the kept tracks of type typ, in current order.
func (pl *planner) of(typ media.StreamType) []*track {
	var out []*track
	for _, t := range pl.tracks {
		if t.s.Type == typ {
			out = append(out, t)
		}
	}
	return out
}

// remove drops t with reason.
func (pl *planner) remove(ph *Phase, t *track, reason string) {
	t.removed = true
	pl.add(ph, ChangeRemoveTrack, t, attrNone, "", "", reason)
}

// compact drops the removed tracks from the current order.
func (pl *planner) compact() {
	kept := pl.tracks[:0]
	for _, t := range pl.tracks {
		if !t.removed {
			kept = append(kept, t)
		}
	}
	pl.tracks = kept
}

// phase runs one phase; it returns the reason to skip the file, if any.
func (pl *planner) phase(ph *Phase) (string, error) {
	pl.actions(ph, media.StreamAudio, ph.AudioActions, "audio_actions")
	pl.actions(ph, media.StreamSubtitle, ph.SubtitleActions, "subtitle_actions")
	pl.actions(ph, media.StreamVideo, ph.VideoActions, "video_actions")
	if ph.KeepAudio != nil {
		if err := pl.keepAudio(ph, ph.KeepAudio); err != nil {
			return "", err
		}
	}
	if ph.KeepSubtitles != nil {
		pl.keepSubtitles(ph, ph.KeepSubtitles)
	}
	if ph.FilterAttachments != nil && ph.FilterAttachments.RemoveAll {
		pl.removeAttachments(ph)
	}
	pl.compact()
	if ph.Transcode != nil {
		pl.transcode(ph, ph.Transcode)
	}
	if ph.Container != nil && ph.Container.Target != pl.container {
		if ph.Container.OnIncompatibleCodec == IncompatibleTranscode {
			pl.encodeUnfitAudio(ph, ph.Container.Target)
		}
		if pl.encodes() {
			pl.dropUnfit(ph, ph.Container.Target)
		}
		if bad := pl.incompatible(ph.Container.Target); bad != "" {
			if ph.Container.OnIncompatibleCodec == IncompatibleSkip {
				return "container.on_incompatible_codec is skip and " + bad, nil
			}
			return "", fmt.Errorf("%w: %s", ErrIncompatibleCodec, bad)
		}
		pl.add(ph, ChangeConvertContainer, nil, attrContainer, pl.container, ph.Container.Target,
			fmt.Sprintf("container.target is %s", ph.Container.Target))
		pl.container = ph.Container.Target
	}
	if ph.TrackOrder != nil {
		pl.order(ph)
	}
	if ph.DefaultFlags != nil {
		pl.defaults(ph, ph.DefaultFlags)
	}
	return "", nil
}

// describe names a track in reasons: "audio track 2 (fre)".
func (t *track) describe() string {
	if t.s.Type == media.StreamAttachment || t.s.Type == media.StreamData {
		codec := t.s.Codec
		if codec == "" && t.s.Tag != "" {
			codec = t.s.Tag
		}
		if codec == "" {
			codec = "unknown codec"
		}
		return fmt.Sprintf("%s track %d (%s)", t.s.Type, t.s.Index, codec)
	}
	return fmt.Sprintf("%s track %d (%s)", t.s.Type, t.s.Index, t.s.Language)
}

// actions clears flags and titles of the tracks of one type.
func (pl *planner) actions(ph *Phase, typ media.StreamType, a *TrackActions, block string) {
	if a == nil {
		return
	}
	for _, t := range pl.tracks {
		if t.s.Type != typ {
			continue
		}
		if a.ClearAllForced && t.forced {
			t.forced = false
			pl.add(ph, ChangeClearForced, t, attrForced, "", "", t.describe()+": "+block+".clear_all_forced")
		}
		if a.ClearAllDefault && t.def {
			t.def = false
			pl.add(ph, ChangeClearDefault, t, attrDefault, "", "", t.describe()+": "+block+".clear_all_default")
		}
		if a.ClearAllTitles && t.title != "" {
			pl.add(ph, ChangeClearTitle, t, attrTitle, t.title, "", t.describe()+": "+block+".clear_all_titles")
			t.title = ""
		}
	}
}

// languageList prints codes as "[eng jpn]".
func languageList(codes []string) string { return "[" + strings.Join(codes, " ") + "]" }

// keepAudio runs the audio filter.
func (pl *planner) keepAudio(ph *Phase, ka *KeepAudio) error {
	audio := pl.of(media.StreamAudio)
	if len(audio) == 0 {
		return nil
	}
	// The minimum counts the main tracks, or every audio track when the
	// file has no main one (only commentary, music or effects).
	anyMain := false
	for _, t := range audio {
		anyMain = anyMain || t.main
	}
	counts := func(t *track) bool { return t.main || !anyMain }
	what := "main audio tracks"
	if !anyMain {
		what = "audio tracks"
	}
	keep := make(map[*track]bool, len(audio))
	reasons := make(map[*track]string, len(audio))
	mains, keptMains := 0, 0
	for _, t := range audio {
		switch {
		case t.music && !ka.KeepMusicTracks:
			reasons[t] = t.describe() + " is a music track and keep_audio.keep_music_tracks is false"
		case t.music && ka.ExcludeMusicFromLanguageFilter:
			keep[t] = true
		case t.sfx && !ka.KeepSFXTracks:
			reasons[t] = t.describe() + " is a sound-effects track and keep_audio.keep_sfx_tracks is false"
		case t.sfx && ka.ExcludeSFXFromLanguageFilter:
			keep[t] = true
		case contains(ka.Languages, t.s.Language):
			keep[t] = true
		default:
			reasons[t] = t.describe() + " not in keep_audio.languages " + languageList(ka.Languages)
		}
		if counts(t) {
			mains++
			if keep[t] {
				keptMains++
			}
		}
	}
	need := min(ka.Minimum, mains)
	if keptMains < need {
		var langs []string
		for _, t := range audio {
			if counts(t) {
				langs = append(langs, t.s.Language)
			}
		}
		short := fmt.Sprintf("keep_audio.languages %s keeps %d of the %d %s %s, fewer than keep_audio.minimum %d",
			languageList(ka.Languages), keptMains, mains, what, languageList(langs), ka.Minimum)
		switch ka.Fallback {
		case FallbackKeepAll:
			for _, t := range audio {
				keep[t] = true
			}
		case FallbackKeepFirst:
			for _, t := range audio {
				if keptMains >= need {
					break
				}
				if counts(t) && !keep[t] {
					keep[t] = true
					keptMains++
				}
			}
		case FallbackContentLanguage:
			content := ""
			for _, t := range audio {
				if counts(t) {
					content = t.s.Language
					break
				}
			}
			for _, t := range audio {
				if counts(t) && !keep[t] && t.s.Language == content {
					keep[t] = true
					keptMains++
				}
			}
			if keptMains < need {
				return fmt.Errorf("%w: %s, and keep_audio.fallback content_language (%s) keeps only %d", ErrNotEnoughAudio, short, content, keptMains)
			}
		default:
			return fmt.Errorf("%w: %s (set keep_audio.fallback.mode to keep_all, keep_first or content_language to choose what stays)", ErrNotEnoughAudio, short)
		}
	}
	for _, t := range audio {
		if !keep[t] {
			pl.remove(ph, t, reasons[t])
		}
	}
	return nil
}

// keepSubtitles runs the subtitle filter.
func (pl *planner) keepSubtitles(ph *Phase, ks *KeepSubtitles) {
	for _, t := range pl.of(media.StreamSubtitle) {
		switch {
		case ks.RemoveAll:
			pl.remove(ph, t, t.describe()+": keep_subtitles.remove_all")
		case ks.PreserveForced && t.forced:
		case ks.Languages == nil:
		case contains(ks.Languages, t.s.Language):
		default:
			pl.remove(ph, t, t.describe()+" not in keep_subtitles.languages "+languageList(ks.Languages))
		}
	}
}

// removeAttachments drops every attachment.
func (pl *planner) removeAttachments(ph *Phase) {
	styled := false
	for _, t := range pl.of(media.StreamSubtitle) {
		if !t.removed && (t.s.Codec == "ass" || t.s.Codec == "ssa") {
			styled = true
		}
	}
	for _, t := range pl.of(media.StreamAttachment) {
		reason := t.describe() + ": filter_attachments.remove_all"
		if styled && isFont(t.s.Codec) {
			reason += " (a font: the styled ass/ssa subtitles kept may render differently)"
		}
		pl.remove(ph, t, reason)
	}
}

// incompatible lists the kept tracks the container cannot hold, "" when
// there are none.
func (pl *planner) incompatible(target string) string {
	var bad []string
	for _, t := range pl.tracks {
		if !t.fits(target) {
			codec := t.codec
			if codec == "" {
				codec = "unknown codec"
			}
			bad = append(bad, fmt.Sprintf("track %d (%s, %s)", t.s.Index, t.s.Type, codec))
		}
	}
	if len(bad) == 0 {
		return ""
	}
	return fmt.Sprintf("%s cannot go into %s without transcoding", strings.Join(bad, ", "), pl.name(target))
}

// category returns t's track_order category.
func (pl *planner) category(t *track) string {
	switch t.s.Type {
	case media.StreamVideo:
		return CategoryVideo
	case media.StreamAudio:
		switch {
		case t.sfx:
			return CategoryAudioSFX
		case t.music:
			return CategoryAudioMusic
		case t.commentary:
			return CategoryAudioCommentary
		case contains(pl.p.Config.AudioLanguages, t.s.Language):
			return CategoryAudioMain
		default:
			return CategoryAudioAlternate
		}
	case media.StreamSubtitle:
		switch {
		case t.commentary:
			return CategorySubtitleCommentary
		case t.forced:
			return CategorySubtitleForced
		default:
			return CategorySubtitleMain
		}
	default:
		return CategoryAttachment
	}
}

// rank returns where s is in list, len(list) when it is not.
func rank(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return len(list)
}

// order sorts the tracks by the phase's track_order: by category, then
// main audio and subtitles by language preference, then as they were.
func (pl *planner) order(ph *Phase) {
	type key struct{ primary, secondary int }
	keys := make(map[*track]key, len(pl.tracks))
	for _, t := range pl.tracks {
		c := pl.category(t)
		k := key{primary: rank(ph.TrackOrder, c)}
		switch c {
		case CategoryAudioMain:
			k.secondary = rank(pl.p.Config.AudioLanguages, t.s.Language)
		case CategorySubtitleMain:
			k.secondary = rank(pl.p.Config.SubtitleLanguages, t.s.Language)
		}
		keys[t] = k
	}
	before := append([]*track(nil), pl.tracks...)
	sort.SliceStable(pl.tracks, func(i, j int) bool {
		a, b := keys[pl.tracks[i]], keys[pl.tracks[j]]
		if a.primary != b.primary {
			return a.primary < b.primary
		}
		return a.secondary < b.secondary
	})
	for i := range before {
		if before[i] != pl.tracks[i] {
			pl.add(ph, ChangeReorderTracks, nil, attrOrder, "", "", "track_order "+languageList(ph.TrackOrder))
			return
		}
	}
}

// preferred returns the track of ts to make default: the first
// non-commentary main track in the first language of langs that has one
// (among those, the first of codecs that matches), else the first
// non-commentary track, else the first track.
func preferred(ts []*track, langs, codecs []string) *track {
	var candidates []*track
	for _, t := range ts {
		if !t.commentary && !t.music && !t.sfx {
			candidates = append(candidates, t)
		}
	}
	if len(candidates) == 0 {
		return ts[0]
	}
	for _, lang := range langs {
		var match []*track
		for _, t := range candidates {
			if t.s.Language == lang {
				match = append(match, t)
			}
		}
		if len(match) == 0 {
			continue
		}
		for _, codec := range codecs {
			for _, t := range match {
				if sameCodec(t.codec, codec) {
					return t
				}
			}
		}
		return match[0]
	}
	return candidates[0]
}

// audioInPreference reports whether a non-commentary audio track is in
// one of the preferred languages.
func audioInPreference(audio []*track, langs []string) bool {
	for _, t := range audio {
		if !t.commentary && contains(langs, t.s.Language) {
			return true
		}
	}
	return false
}

// defaults sets the default (and, when asked, forced) flags.
func (pl *planner) defaults(ph *Phase, df *DefaultFlags) {
	cfg := pl.p.Config
	want := map[*track]bool{}
	why := map[*track]string{}
	clear := func(ts []*track) {
		for _, t := range ts {
			if _, set := want[t]; !set {
				want[t] = false
				why[t] = ": default_flags.clear_other_defaults"
			}
		}
	}
	video, audio, subs := pl.of(media.StreamVideo), pl.of(media.StreamAudio), pl.of(media.StreamSubtitle)
	if df.SetFirstVideoDefault && len(video) > 0 {
		if ph.VideoActions == nil || !ph.VideoActions.ClearAllDefault {
			want[video[0]] = true
			why[video[0]] = " is the first video track (default_flags.set_first_video_default)"
		}
		if df.ClearOtherDefaults {
			clear(video[1:])
		}
	}
	if df.SetPreferredAudioDefault && len(audio) > 0 {
		t := preferred(audio, cfg.AudioLanguages, df.PreferredAudioCodec)
		want[t] = true
		why[t] = " is the preferred audio track (config.audio_languages " + languageList(cfg.AudioLanguages) + ")"
		if df.ClearOtherDefaults {
			clear(audio)
		}
	}
	if df.SetPreferredSubtitleDefault && len(subs) > 0 {
		t := preferred(subs, cfg.SubtitleLanguages, nil)
		want[t] = true
		why[t] = " is the preferred subtitle track (config.subtitle_languages " + languageList(cfg.SubtitleLanguages) + ")"
		if df.ClearOtherDefaults {
			clear(subs)
		}
	} else if df.ClearOtherDefaults {
		clear(subs)
	}
	differs := len(subs) > 0 && !audioInPreference(audio, cfg.AudioLanguages)
	if df.SetSubtitleDefaultWhenAudioDiffers && differs {
		any := false
		for _, t := range subs {
			any = any || want[t]
		}
		if !any {
			t := preferred(subs, cfg.SubtitleLanguages, nil)
			want[t] = true
			why[t] = " is the preferred subtitle track and no audio track is in config.audio_languages (default_flags.set_subtitle_default_when_audio_differs)"
		}
	}
	for _, t := range pl.tracks {
		d, ok := want[t]
		if !ok || d == t.def {
			continue
		}
		t.def = d
		kind := ChangeClearDefault
		if d {
			kind = ChangeSetDefault
		}
		pl.add(ph, kind, t, attrDefault, "", "", t.describe()+why[t])
	}
	if df.SetSubtitleForcedWhenAudioDiffers && differs {
		t := preferred(subs, cfg.SubtitleLanguages, nil)
		if !t.forced {
			t.forced = true
			pl.add(ph, ChangeSetForced, t, attrForced, "", "", t.describe()+" is the preferred subtitle track and no audio track is in config.audio_languages (default_flags.set_subtitle_forced_when_audio_differs)")
		}
	}
}

// mp4Limits makes the target what ffmpeg writes when it rewrites an MP4
// file: its tracks carry no titles, and the first track of a type is the
// default when no track of that type is. The changes are attributed to
// the policy's last phase, with the container as their reason. An MP4
// file that needs no other change is left as it is.
func (pl *planner) mp4Limits(ph *Phase) {
	for _, t := range pl.tracks {
		if t.title != "" && t.s.Type != media.StreamAttachment {
			pl.add(ph, ChangeClearTitle, t, attrTitle, t.title, "", t.describe()+": an mp4 file keeps no track titles")
			t.title = ""
		}
	}
	for _, typ := range []media.StreamType{media.StreamVideo, media.StreamAudio, media.StreamSubtitle} {
		ts := pl.of(typ)
		if len(ts) == 0 || slices.ContainsFunc(ts, func(t *track) bool { return t.def }) {
			continue
		}
		ts[0].def = true
		pl.add(ph, ChangeSetDefault, ts[0], attrDefault, "", "", ts[0].describe()+": an mp4 file makes the first "+string(typ)+" track the default when none is")
	}
}

// indexes prints the source indexes of ts as "0,2,1".
func indexes(ts []*track) string {
	var b strings.Builder
	for i, t := range ts {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(t.s.Index))
	}
	return b.String()
}

// net returns the changes that remain when the phases are done: every
// removal; for each flag or title, the last change to it if its final
// value differs from the source's; the last reorder if the kept tracks'
// order differs from the source's; the last conversion if the container
// differs.
func (pl *planner) net() []Change {
	type slot struct {
		t    *track
		attr attribute
	}
	last := make(map[slot]int, len(pl.events))
	for i, e := range pl.events {
		if e.attr != attrNone {
			last[slot{e.t, e.attr}] = i
		}
	}
	var kept []*track
	for _, t := range pl.source {
		if !t.removed {
			kept = append(kept, t)
		}
	}
	from, to := indexes(kept), indexes(pl.tracks)
	out := make([]Change, 0, len(pl.events))
	for i, e := range pl.events {
		if e.attr != attrNone && last[slot{e.t, e.attr}] != i {
			continue
		}
		c := e.change
		switch e.attr {
		case attrDefault:
			if e.t.removed || e.t.def == e.t.s.Default {
				continue
			}
		case attrForced:
			if e.t.removed || e.t.forced == e.t.s.Forced {
				continue
			}
		case attrTitle:
			if e.t.removed || e.t.title == e.t.s.Title {
				continue
			}
			c.From = e.t.s.Title
		case attrOrder:
			if from == to {
				continue
			}
			c.From, c.To = from, to
		case attrContainer:
			if pl.container == pl.srcCont {
				continue
			}
			c.From, c.To = pl.srcCont, pl.container
		case attrEncode:
			if e.t.removed || e.t.encode == nil {
				continue
			}
		}
		out = append(out, c)
	}
	return out
}

// target is the file as the phases left it.
func (pl *planner) target() Target {
	t := Target{Container: pl.container, Tracks: make([]TargetTrack, 0, len(pl.tracks))}
	for _, tr := range pl.tracks {
		tt := TargetTrack{Source: tr.s.Index, Type: string(tr.s.Type), Codec: tr.codec,
			Language: tr.s.Language, Title: tr.title, Default: tr.def, Forced: tr.forced, Encode: tr.encode}
		if pl.p.hasTranscode && tr.s.Type == media.StreamVideo {
			tt.Width, tt.Height = tr.width, tr.height
		}
		t.Tracks = append(t.Tracks, tt)
	}
	return t
}
