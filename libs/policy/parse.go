package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/vpo-project/vpo/libs/media"
)

// Limits on a policy file.
const (
	// MaxFileSize is the largest policy file Parse and ReadFile read.
	MaxFileSize = 1 << 20
	// maxNodes bounds the values visited, aliases expanded, so that an
	// alias bomb is an error instead of minutes of work.
	maxNodes = 20_000
	// maxAliasChain bounds an alias of an alias of ….
	maxAliasChain = 64
	// maxErrors is the most problems one Parse reports.
	maxErrors = 50
	// maxListLen bounds a list of languages, patterns or codecs.
	maxListLen = 256
	// maxPhases bounds the phases of a policy.
	maxPhases = 100
	// maxMinimum bounds keep_audio.minimum.
	maxMinimum = 1000
)

// The keys of each block, in the order the documentation lists them.
var (
	topKeys      = []string{"schema_version", "name", "description", "category", "config", "phases"}
	configKeys   = []string{"audio_languages", "subtitle_languages", "commentary_patterns", "on_error", "keep_original"}
	phaseKeys    = []string{"name", "container", "keep_audio", "keep_subtitles", "filter_attachments", "track_order", "default_flags", "audio_actions", "subtitle_actions", "video_actions", "transcode", "requires"}
	phaseLater   = []string{"rules", "audio_synthesis", "transcription", "file_timestamp", "skip_when", "depends_on", "run_if", "on_error"}
	containerKey = []string{"target", "on_incompatible_codec", "codec_mappings", "preserve_metadata"}
	keepAudioKey = []string{"languages", "fallback", "minimum", "keep_music_tracks", "exclude_music_from_language_filter",
		"keep_sfx_tracks", "exclude_sfx_from_language_filter", "keep_non_speech_tracks", "exclude_non_speech_from_language_filter"}
	keepSubsKey   = []string{"languages", "preserve_forced", "remove_all"}
	attachKey     = []string{"remove_all"}
	actionsKey    = []string{"clear_all_forced", "clear_all_default", "clear_all_titles"}
	fallbackKey   = []string{"mode"}
	flagsKey      = []string{"set_first_video_default", "set_preferred_audio_default", "set_preferred_subtitle_default", "clear_other_defaults", "set_subtitle_default_when_audio_differs", "set_subtitle_forced_when_audio_differs", "preferred_audio_codec"}
	categories    = []string{CategoryVideo, CategoryAudioMain, CategoryAudioAlternate, CategorySubtitleMain, CategorySubtitleForced, CategoryAudioCommentary, CategorySubtitleCommentary, CategoryAudioMusic, CategoryAudioSFX, CategoryAudioNonSpeech, CategoryAttachment}
	reservedNames = []string{"config", "schema_version", "phases"}
	transcodeKey  = []string{"video", "audio"}
	videoKey      = []string{"to", "skip_if", "crf", "preset", "tune", "target_bitrate", "min_bitrate", "max_bitrate", "two_pass",
		"max_resolution", "max_width", "max_height", "scale_algorithm", "upscale", "hw", "hw_fallback", "ffmpeg_args"}
	skipIfKey = []string{"codec_matches", "resolution_within", "bitrate_under"}
	audioKey  = []string{"preserve", "to", "bitrate"}
)

// yamlLine finds the line in the YAML library's error messages.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// Parse reads a policy (upstream VPO's schema_version 13) from data; file
// is the path it came from, used in messages ("" for none). Problems of
// syntax, type, value and unknown keys are errors naming the file, the
// line and the key: a *Error, or Errors when there are several. Features
// vpo knows but does not run yet are not errors here; Check reports them.
func Parse(file string, data []byte) (*Policy, error) {
	d := &decoder{file: file}
	if len(data) > MaxFileSize {
		d.fail(nil, "", "the file is %d bytes, larger than the %d a policy may be", len(data), MaxFileSize)
		return nil, d.errs.asError()
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.fail(nil, "", "the file is empty; a policy needs schema_version: 13 and phases")
		} else {
			d.syntax(err, data)
		}
		return nil, d.errs.asError()
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		d.syntax(err, data)
		return nil, d.errs.asError()
	default:
		d.fail(&next, "", "a second YAML document (after ---) is not allowed; a policy is one document")
		return nil, d.errs.asError()
	}
	p := &Policy{File: file, Source: data, Name: nameOf(file)}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	d.policy(root, p)
	if len(d.errs) > 0 {
		sort.SliceStable(d.errs, func(i, j int) bool { return d.errs[i].Line < d.errs[j].Line })
		return nil, d.errs.asError()
	}
	p.unsupported = d.unsupported
	if p.Name == "" {
		p.Name = p.DisplayName
	}
	return p, nil
}

// nameOf returns a policy's name: its file name without .yaml or .yml.
func nameOf(file string) string {
	if file == "" {
		return ""
	}
	base := filepath.Base(file)
	for _, ext := range []string{".yaml", ".yml"} {
		if strings.HasSuffix(base, ext) && len(base) > len(ext) {
			return strings.TrimSuffix(base, ext)
		}
	}
	return base
}

// decoder walks the YAML tree of one policy, collecting problems.
type decoder struct {
	file        string
	errs        Errors
	unsupported Errors
	nodes       int
	over        bool
}

// fail records a problem at n (nil: no line) with key path key.
func (d *decoder) fail(n *yaml.Node, key, format string, args ...any) {
	if len(d.errs) >= maxErrors {
		return
	}
	line := 0
	if n != nil {
		line = n.Line
	}
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// later records a feature vpo knows but does not run yet.
func (d *decoder) later(n *yaml.Node, key, msg string) {
	d.unsupported = append(d.unsupported, &Error{File: d.file, Line: n.Line, Key: key, Msg: msg})
}

// syntax records an error of the YAML library, reading data, as a syntax
// error at the line of the problem (see problemLine).
func (d *decoder) syntax(err error, data []byte) {
	msg := err.Error()
	line := 0
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	text := "YAML syntax error: " + msg
	if line > 0 {
		text = fmt.Sprintf("YAML syntax error at line %d: %s", line, msg)
		if at := problemLine(data, msg, line); at > line {
			text = fmt.Sprintf("YAML syntax error at line %d: %s (in the block begun at line %d)", at, msg, line)
			line = at
		}
	}
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Msg: text, style: styleSyntax})
}

// problemLine returns the line of a YAML syntax error whose message is
// msg, or reported when it finds none later. The YAML library names the
// line of the block it was reading when it has one, not the line it could
// not read: bad indentation on line 4 of a list begun on line 2 reads
// "line 2". The problem's line is the first at which the document cut
// after it fails with the same message; as every longer cut fails too, it
// is found by bisection over the lines after reported.
func problemLine(data []byte, msg string, reported int) int {
	var ends []int // ends[i] is the offset just after line i+1
	for i, b := range data {
		if b == '\n' {
			ends = append(ends, i+1)
		}
	}
	if len(ends) == 0 || ends[len(ends)-1] != len(data) {
		ends = append(ends, len(data))
	}
	fails := func(lines int) bool {
		dec := yaml.NewDecoder(bytes.NewReader(data[:ends[lines-1]]))
		for {
			var n yaml.Node
			err := dec.Decode(&n)
			if err == nil {
				continue
			}
			if errors.Is(err, io.EOF) {
				return false
			}
			return strings.HasSuffix(err.Error(), ": "+msg) || err.Error() == "yaml: "+msg
		}
	}
	lo, hi := reported, len(ends) // the answer is in (lo, hi] when it is past reported
	if lo >= hi || !fails(hi) || fails(lo) {
		return reported
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if fails(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

// resolve follows aliases to the node they name and counts the visit;
// nil once the file has too many values.
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	if d.over || n == nil {
		return nil
	}
	start := n
	for i := 0; n.Kind == yaml.AliasNode; i++ {
		if n.Alias == nil || i >= maxAliasChain {
			d.fail(start, "", "alias *%s cannot be resolved", start.Value)
			return nil
		}
		n = n.Alias
	}
	d.nodes++
	if d.nodes > maxNodes {
		d.over = true
		d.fail(start, "", "the policy has more than %d values (aliases expanded); it is too large", maxNodes)
		return nil
	}
	return n
}

// null reports whether n is YAML's null (a key with no value).
func null(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what a node is, for type errors.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		v := n.Value
		if len(v) > 40 {
			v = v[:40] + "…"
		}
		switch n.ShortTag() {
		case "!!null":
			return "empty"
		case "!!str":
			return strconv.Quote(v)
		default:
			return v
		}
	default:
		return "not a value"
	}
}

// join returns the key path of key under path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// index returns the key path of item i of the list at path.
func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// mapping walks the mapping n at path, calling each for every key in
// known with its (resolved) value; other keys are errors. It reports
// whether n was a mapping.
func (d *decoder) mapping(n *yaml.Node, path string, known []string, each func(key string, k, v *yaml.Node)) bool {
	n = d.resolve(n)
	if n == nil {
		return false
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "must be a mapping of keys (%s), not %s", strings.Join(known, ", "), describe(n))
		return false
	}
	seen := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		if len(d.errs) >= maxErrors {
			return true
		}
		k := d.resolve(n.Content[i])
		if k == nil {
			return true
		}
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			d.fail(k, join(path, k.Value), "merge keys (<<) are not supported; repeat the keys or use an alias for the whole value")
			continue
		}
		if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str" {
			d.fail(k, path, "a key must be a name, not %s", describe(k))
			continue
		}
		name := k.Value
		key := join(path, name)
		if first, dup := seen[name]; dup {
			d.fail(k, key, "duplicate key (first at line %d)", first)
			continue
		}
		seen[name] = k.Line
		if !contains(known, name) {
			d.fail(k, key, "unknown key%s", suggest(name, known))
			continue
		}
		v := d.resolve(n.Content[i+1])
		if v == nil {
			return true
		}
		each(name, k, v)
	}
	return true
}

// str reads a string scalar.
func (d *decoder) str(v *yaml.Node, path string) (string, bool) {
	if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!str" {
		d.fail(v, path, "must be a string, not %s", describe(v))
		return "", false
	}
	return v.Value, true
}

// boolean reads true or false.
func (d *decoder) boolean(v *yaml.Node, path string) bool {
	if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!bool" {
		d.fail(v, path, "must be true or false, not %s", describe(v))
		return false
	}
	b, err := strconv.ParseBool(strings.ToLower(v.Value))
	if err != nil {
		d.fail(v, path, "must be true or false, not %s", describe(v))
	}
	return b
}

// integer reads a whole number from lo to hi.
func (d *decoder) integer(v *yaml.Node, path string, lo, hi int) (int, bool) {
	if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!int" {
		d.fail(v, path, "must be a whole number, not %s", describe(v))
		return 0, false
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(v.Value, "_", ""), 0, 64)
	if err != nil || n < int64(lo) || n > int64(hi) {
		d.fail(v, path, "must be a whole number from %d to %d, not %s", lo, hi, v.Value)
		return 0, false
	}
	return int(n), true
}

// enum reads a string that must be one of values.
func (d *decoder) enum(v *yaml.Node, path string, values ...string) (string, bool) {
	s, ok := d.str(v, path)
	if !ok {
		return "", false
	}
	if !contains(values, s) {
		d.fail(v, path, "%q is not one of %s%s", s, strings.Join(values, ", "), suggest(s, values))
		return "", false
	}
	return s, true
}

// strings reads a list of strings; single allows one string alone.
func (d *decoder) list(v *yaml.Node, path string, single bool, each func(i int, item *yaml.Node, s string)) bool {
	if single && v.Kind == yaml.ScalarNode && v.ShortTag() == "!!str" {
		each(0, v, v.Value)
		return true
	}
	if v.Kind != yaml.SequenceNode {
		d.fail(v, path, "must be a list, not %s", describe(v))
		return false
	}
	if len(v.Content) > maxListLen {
		d.fail(v, path, "has %d items, more than %d", len(v.Content), maxListLen)
		return false
	}
	for i, raw := range v.Content {
		if len(d.errs) >= maxErrors {
			return false
		}
		item := d.resolve(raw)
		if item == nil {
			return false
		}
		s, ok := d.str(item, index(path, i))
		if ok {
			each(i, item, s)
		}
	}
	return true
}

// languages reads a list of language codes, normalised to ISO 639-2/B
// and without repeats.
func (d *decoder) languages(v *yaml.Node, path string) []string {
	out := []string{}
	d.list(v, path, false, func(i int, item *yaml.Node, s string) {
		code := media.NormalizeLanguage(s)
		if code == media.Undetermined && !strings.EqualFold(strings.TrimSpace(s), media.Undetermined) {
			d.fail(item, index(path, i), "unknown language code %q (use ISO 639 codes such as eng, jpn, ger)", s)
			return
		}
		if !contains(out, code) {
			out = append(out, code)
		}
	})
	return out
}

// tags reads a list of worker tags (vpo's own key): 1 to 64 of a-z, 0-9,
// '.', '_', '-', starting with a letter or digit.
func (d *decoder) tags(v *yaml.Node, path string) []string {
	out := []string{}
	d.list(v, path, false, func(i int, item *yaml.Node, s string) {
		if !validTag(s) {
			d.fail(item, index(path, i), "worker tag %q: use 1 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit (e.g. gpu)", s)
			return
		}
		if !contains(out, s) {
			out = append(out, s)
		}
	})
	return out
}

func validTag(tag string) bool {
	if tag == "" || len(tag) > 64 {
		return false
	}
	for i, c := range []byte(tag) {
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return false
		}
	}
	return true
}

// policy reads the top level.
func (d *decoder) policy(root *yaml.Node, p *Policy) {
	values := map[string]*yaml.Node{}
	keys := map[string]*yaml.Node{}
	if !d.mapping(root, "", topKeys, func(key string, k, v *yaml.Node) { values[key], keys[key] = v, k }) {
		return
	}
	v, ok := values["schema_version"]
	switch {
	case !ok || null(v):
		d.fail(root, "schema_version", "missing: a policy must start with schema_version: 13")
		return
	case v.Kind != yaml.ScalarNode || v.ShortTag() != "!!int":
		d.fail(v, "schema_version", "must be the number 13, not %s", describe(v))
		return
	case !isThirteen(v.Value):
		d.fail(v, "schema_version", "version %s is not supported: vpo reads schema_version 13 (upstream VPO's phased format)", v.Value)
		return
	}
	p.SchemaVersion = SchemaVersion
	if v := values["name"]; !null(v) {
		if s, ok := d.str(v, "name"); ok {
			s = strings.TrimSpace(s)
			switch {
			case s == "":
				d.fail(v, "name", "must not be empty (leave it out instead)")
			case len(s) > 200:
				d.fail(v, "name", "is %d characters, more than 200", len(s))
			default:
				p.DisplayName = s
			}
		}
	}
	if v := values["description"]; !null(v) {
		p.Description, _ = d.str(v, "description")
	}
	if v := values["category"]; !null(v) {
		p.Category, _ = d.str(v, "category")
	}
	p.Config = Config{
		AudioLanguages:     []string{"eng", media.Undetermined},
		SubtitleLanguages:  []string{"eng", media.Undetermined},
		CommentaryPatterns: []string{"commentary", "director", "audio description"},
		OnError:            OnErrorContinue,
	}
	if v := values["config"]; !null(v) {
		d.config(v, &p.Config)
	}
	v, ok = values["phases"]
	if !ok || null(v) {
		d.fail(root, "phases", "missing: a policy needs at least one phase")
		return
	}
	d.phases(v, p)
}

// config reads the config block.
func (d *decoder) config(n *yaml.Node, c *Config) {
	d.mapping(n, "config", configKeys, func(key string, k, v *yaml.Node) {
		path := join("config", key)
		if null(v) {
			return
		}
		switch key {
		case "audio_languages":
			c.AudioLanguages = d.languages(v, path)
		case "subtitle_languages":
			c.SubtitleLanguages = d.languages(v, path)
		case "commentary_patterns":
			var patterns []string
			d.list(v, path, false, func(i int, item *yaml.Node, s string) {
				if strings.TrimSpace(s) == "" {
					d.fail(item, index(path, i), "an empty pattern would match every title")
					return
				}
				if _, err := regexp.Compile("(?i)" + s); err != nil {
					d.fail(item, index(path, i), "%q is not a valid regular expression: %v", s, err)
					return
				}
				patterns = append(patterns, s)
			})
			c.CommentaryPatterns = patterns
		case "on_error":
			if s, ok := d.enum(v, path, OnErrorSkip, OnErrorContinue, OnErrorFail); ok {
				c.OnError = s
			}
		case "keep_original":
			b := d.boolean(v, path)
			c.KeepOriginal = &b
		}
	})
}

// phases reads the list of phases.
func (d *decoder) phases(v *yaml.Node, p *Policy) {
	if v.Kind != yaml.SequenceNode {
		d.fail(v, "phases", "must be a list of phases, not %s", describe(v))
		return
	}
	if len(v.Content) == 0 {
		d.fail(v, "phases", "is empty: a policy needs at least one phase")
		return
	}
	if len(v.Content) > maxPhases {
		d.fail(v, "phases", "has %d phases, more than %d", len(v.Content), maxPhases)
		return
	}
	names := map[string]int{}
	for i, raw := range v.Content {
		path := index("phases", i)
		n := d.resolve(raw)
		if n == nil {
			return
		}
		ph := Phase{Line: n.Line}
		nameSeen := false
		known := append(append([]string(nil), phaseKeys...), phaseLater...)
		d.mapping(n, path, known, func(key string, k, v *yaml.Node) {
			d.phaseKey(p, &ph, path, key, k, v, &nameSeen)
		})
		if n.Kind == yaml.MappingNode && !nameSeen {
			d.fail(n, join(path, "name"), "missing: every phase needs a name")
		}
		if ph.Name != "" {
			folded := strings.ToLower(ph.Name)
			if first, dup := names[folded]; dup {
				d.fail(n, join(path, "name"), "phase name %q is used twice (first by phases[%d]); names must differ (ignoring case)", ph.Name, first)
			} else {
				names[folded] = i
			}
		}
		p.Phases = append(p.Phases, ph)
	}
}

// phaseKey reads one key of a phase.
func (d *decoder) phaseKey(p *Policy, ph *Phase, phasePath, key string, k, v *yaml.Node, nameSeen *bool) {
	path := join(phasePath, key)
	if contains(phaseLater, key) {
		if null(v) {
			return
		}
		msg := "not supported by vpo yet"
		switch key {
		case "transcription":
			p.hasTranscription, ph.Transcription = true, true
			msg = "not supported by vpo yet (transcription comes in a later release)"
		case "on_error":
			msg = "not supported by vpo yet (use config.on_error for the whole policy)"
		}
		d.later(k, path, msg)
		return
	}
	if key == "name" {
		*nameSeen = true
		s, ok := d.str(v, path)
		if !ok {
			return
		}
		switch {
		case !validPhaseName(s):
			d.fail(v, path, "%q is not a valid phase name: start with a letter, then up to 63 letters, digits, - or _", s)
		case contains(reservedNames, strings.ToLower(s)):
			d.fail(v, path, "%q is reserved and cannot name a phase", s)
		default:
			ph.Name = s
		}
		return
	}
	if null(v) {
		return
	}
	switch key {
	case "container":
		c := &ContainerSpec{OnIncompatibleCodec: IncompatibleError}
		targetSeen := false
		d.mapping(v, path, containerKey, func(key string, k, v *yaml.Node) {
			sub := join(path, key)
			switch key {
			case "target":
				targetSeen = true
				c.Target, _ = d.enum(v, sub, ContainerMKV, ContainerMP4)
			case "on_incompatible_codec":
				c.OnIncompatibleCodec, _ = d.enum(v, sub, IncompatibleError, IncompatibleSkip, IncompatibleTranscode)
				if c.OnIncompatibleCodec == IncompatibleTranscode {
					p.hasTranscode = true
				}
			case "codec_mappings":
				if !null(v) {
					d.later(k, sub, "not supported by vpo yet (it needs transcoding)")
				}
			case "preserve_metadata":
				if !null(v) && !d.boolean(v, sub) {
					d.later(v, sub, "false is not supported by vpo yet (container metadata is kept)")
				}
			}
		})
		if v.Kind == yaml.MappingNode && !targetSeen {
			d.fail(v, join(path, "target"), "missing: say mkv or mp4")
		}
		ph.Container = c
	case "requires":
		ph.Requires = d.tags(v, path)
	case "transcode":
		ph.Transcode = d.transcode(v, path)
		if ph.Transcode.Video != nil || ph.Transcode.Audio != nil {
			p.hasTranscode = true
		}
	case "keep_audio":
		ka := &KeepAudio{Minimum: 1, KeepMusicTracks: true, ExcludeMusicFromLanguageFilter: true,
			KeepSFXTracks: true, ExcludeSFXFromLanguageFilter: true, KeepNonSpeechTracks: true, ExcludeNonSpeechFromLanguageFilter: true}
		langSeen := false
		d.mapping(v, path, keepAudioKey, func(key string, k, v *yaml.Node) {
			sub := join(path, key)
			if null(v) {
				return
			}
			switch key {
			case "languages":
				langSeen = true
				ka.Languages = d.languages(v, sub)
				if v.Kind == yaml.SequenceNode && len(v.Content) == 0 {
					d.fail(v, sub, "is empty: list the languages of the audio tracks to keep")
				}
			case "minimum":
				if n, ok := d.integer(v, sub, 1, maxMinimum); ok {
					ka.Minimum = n
				}
			case "fallback":
				modeSeen := false
				d.mapping(v, sub, fallbackKey, func(key string, k, v *yaml.Node) {
					modeSeen = true
					ka.Fallback, _ = d.enum(v, join(sub, key), FallbackContentLanguage, FallbackKeepAll, FallbackKeepFirst, FallbackError)
				})
				if v.Kind == yaml.MappingNode && !modeSeen {
					d.fail(v, join(sub, "mode"), "missing: say content_language, keep_all, keep_first or error")
				}
			case "keep_music_tracks":
				ka.KeepMusicTracks = d.boolean(v, sub)
			case "exclude_music_from_language_filter":
				ka.ExcludeMusicFromLanguageFilter = d.boolean(v, sub)
			case "keep_sfx_tracks":
				ka.KeepSFXTracks = d.boolean(v, sub)
			case "exclude_sfx_from_language_filter":
				ka.ExcludeSFXFromLanguageFilter = d.boolean(v, sub)
			case "keep_non_speech_tracks":
				ka.KeepNonSpeechTracks = d.boolean(v, sub)
			case "exclude_non_speech_from_language_filter":
				ka.ExcludeNonSpeechFromLanguageFilter = d.boolean(v, sub)
			}
		})
		if v.Kind == yaml.MappingNode && !langSeen {
			d.fail(v, join(path, "languages"), "missing: list the languages of the audio tracks to keep")
		}
		ph.KeepAudio = ka
	case "keep_subtitles":
		ks := &KeepSubtitles{}
		d.mapping(v, path, keepSubsKey, func(key string, k, v *yaml.Node) {
			sub := join(path, key)
			if null(v) {
				return
			}
			switch key {
			case "languages":
				ks.Languages = d.languages(v, sub)
			case "preserve_forced":
				ks.PreserveForced = d.boolean(v, sub)
			case "remove_all":
				ks.RemoveAll = d.boolean(v, sub)
			}
		})
		ph.KeepSubtitles = ks
	case "filter_attachments":
		fa := &FilterAttachments{}
		d.mapping(v, path, attachKey, func(key string, k, v *yaml.Node) {
			if !null(v) {
				fa.RemoveAll = d.boolean(v, join(path, key))
			}
		})
		ph.FilterAttachments = fa
	case "track_order":
		order := []string{}
		d.list(v, path, false, func(i int, item *yaml.Node, s string) {
			switch {
			case !contains(categories, s):
				d.fail(item, index(path, i), "unknown track category %q%s (categories: %s)", s, suggest(s, categories), strings.Join(categories, ", "))
			case contains(order, s):
				d.fail(item, index(path, i), "%q is listed twice", s)
			default:
				order = append(order, s)
			}
		})
		if v.Kind == yaml.SequenceNode && len(v.Content) == 0 {
			d.fail(v, path, "is empty: list track categories, or leave track_order out")
		}
		ph.TrackOrder = order
	case "default_flags":
		df := &DefaultFlags{SetFirstVideoDefault: true, SetPreferredAudioDefault: true, ClearOtherDefaults: true}
		d.mapping(v, path, flagsKey, func(key string, k, v *yaml.Node) {
			sub := join(path, key)
			if null(v) {
				return
			}
			switch key {
			case "set_first_video_default":
				df.SetFirstVideoDefault = d.boolean(v, sub)
			case "set_preferred_audio_default":
				df.SetPreferredAudioDefault = d.boolean(v, sub)
			case "set_preferred_subtitle_default":
				df.SetPreferredSubtitleDefault = d.boolean(v, sub)
			case "clear_other_defaults":
				df.ClearOtherDefaults = d.boolean(v, sub)
			case "set_subtitle_default_when_audio_differs":
				df.SetSubtitleDefaultWhenAudioDiffers = d.boolean(v, sub)
			case "set_subtitle_forced_when_audio_differs":
				df.SetSubtitleForcedWhenAudioDiffers = d.boolean(v, sub)
			case "preferred_audio_codec":
				d.list(v, sub, true, func(i int, item *yaml.Node, s string) {
					s = strings.ToLower(strings.TrimSpace(s))
					if s == "" {
						d.fail(item, index(sub, i), "an empty codec name")
						return
					}
					df.PreferredAudioCodec = append(df.PreferredAudioCodec, s)
				})
			}
		})
		ph.DefaultFlags = df
	case "audio_actions", "subtitle_actions", "video_actions":
		ta := &TrackActions{}
		d.mapping(v, path, actionsKey, func(key string, k, v *yaml.Node) {
			sub := join(path, key)
			if null(v) {
				return
			}
			switch key {
			case "clear_all_forced":
				ta.ClearAllForced = d.boolean(v, sub)
			case "clear_all_default":
				ta.ClearAllDefault = d.boolean(v, sub)
			case "clear_all_titles":
				ta.ClearAllTitles = d.boolean(v, sub)
			}
		})
		switch key {
		case "audio_actions":
			ph.AudioActions = ta
		case "subtitle_actions":
			ph.SubtitleActions = ta
		default:
			ph.VideoActions = ta
		}
	}
}

// transcode reads a phase's transcode block.
func (d *decoder) transcode(v *yaml.Node, path string) *Transcode {
	tc := &Transcode{}
	d.mapping(v, path, transcodeKey, func(key string, k, v *yaml.Node) {
		if null(v) {
			return
		}
		sub := join(path, key)
		if key == "video" {
			tc.Video = d.videoTranscode(v, sub)
		} else {
			tc.Audio = d.audioTranscode(v, sub)
		}
	})
	return tc
}

// videoTranscode reads transcode.video.
func (d *decoder) videoTranscode(v *yaml.Node, path string) *VideoTranscode {
	vt := &VideoTranscode{Preset: "medium", ScaleAlgorithm: ScaleLanczos, HW: HWAuto, HWFallback: true}
	at := map[string]*yaml.Node{}
	d.mapping(v, path, videoKey, func(key string, k, v *yaml.Node) {
		if null(v) {
			return
		}
		at[key] = v
		sub := join(path, key)
		switch key {
		case "to":
			vt.To, _ = d.codec(v, sub, videoEncodes, []string{VideoVP9}, "h264, hevc or av1")
		case "skip_if":
			vt.SkipIf = d.skipIf(v, sub)
		case "crf":
			if n, ok := d.integer(v, sub, 0, 51); ok {
				vt.CRF = &n
			}
		case "preset":
			vt.Preset, _ = d.enum(v, sub, presets...)
		case "tune":
			vt.Tune, _ = d.str(v, sub) // checked below, for the codec
		case "target_bitrate":
			vt.TargetBitrate = d.bitrate(v, sub)
		case "min_bitrate":
			vt.MinBitrate = d.bitrate(v, sub)
		case "max_bitrate":
			vt.MaxBitrate = d.bitrate(v, sub)
		case "two_pass":
			if vt.TwoPass = d.boolean(v, sub); vt.TwoPass {
				d.later(v, sub, "true is not supported by vpo yet (encodes run in one pass)")
			}
		case "max_resolution":
			vt.MaxResolution = d.resolution(v, sub)
		case "max_width":
			vt.MaxWidth, _ = d.integer(v, sub, 2, media.MaxDimension)
		case "max_height":
			vt.MaxHeight, _ = d.integer(v, sub, 2, media.MaxDimension)
		case "scale_algorithm":
			vt.ScaleAlgorithm, _ = d.enum(v, sub, scaleAlgorithms...)
		case "upscale":
			if vt.Upscale = d.boolean(v, sub); vt.Upscale {
				d.later(v, sub, "true is not supported by vpo yet (vpo scales down only)")
			}
		case "hw":
			vt.HW, _ = d.enum(v, sub, hwMethods...)
		case "hw_fallback":
			vt.HWFallback = d.boolean(v, sub)
		case "ffmpeg_args":
			args := []string{}
			ok := true
			var items []*yaml.Node
			d.list(v, sub, false, func(i int, item *yaml.Node, s string) {
				args, items = append(args, s), append(items, item)
			})
			if v.Kind == yaml.SequenceNode && len(args) != len(v.Content) {
				ok = false // an item was not a string: already an error
			}
			if i, why := checkFFmpegArgs(args); ok && i >= 0 {
				d.fail(items[i], index(sub, i), "%s (%s)", why, ffmpegArgsRule)
			}
			vt.FFmpegArgs = args
		}
	})
	if v.Kind != yaml.MappingNode {
		return vt
	}
	if _, ok := at["to"]; !ok {
		d.fail(v, join(path, "to"), "missing: say h264, hevc or av1")
	}
	if n := at["tune"]; n != nil && vt.Tune != "" {
		d.tune(n, join(path, "tune"), vt)
	}
	if n := at["target_bitrate"]; n != nil && at["crf"] != nil {
		d.fail(n, join(path, "target_bitrate"), "crf and target_bitrate cannot both be set: use crf alone, target_bitrate alone, or crf with max_bitrate")
	}
	if vt.MinBitrate > 0 && vt.MaxBitrate > 0 && vt.MinBitrate > vt.MaxBitrate {
		d.fail(at["min_bitrate"], join(path, "min_bitrate"), "%s is more than max_bitrate %s", formatBitrate(vt.MinBitrate), formatBitrate(vt.MaxBitrate))
	}
	return vt
}

// codec reads a transcode target codec: one of encodes, or one of later
// (upstream's, which vpo does not encode yet: reported by Check, saying
// to use use). An error lists only encodes.
func (d *decoder) codec(v *yaml.Node, path string, encodes, later []string, use string) (string, bool) {
	s, ok := d.str(v, path)
	if !ok {
		return "", false
	}
	switch {
	case contains(encodes, s):
		return s, true
	case contains(later, s):
		d.later(v, path, fmt.Sprintf("%s is not supported by vpo yet (use %s)", s, use))
		return s, true
	}
	hint := suggest(s, encodes)
	switch lower := strings.ToLower(s); {
	case contains(encodes, lower):
		hint = fmt.Sprintf(" (codec names are lower case: %q)", lower)
	case contains(later, lower):
		hint = fmt.Sprintf(" (%s is not supported by vpo yet)", lower)
	}
	d.fail(v, path, "%q is not one of %s%s", s, strings.Join(encodes, ", "), hint)
	return "", false
}

// tune checks transcode.video.tune (at v) against the tunings of the
// encoder of vt.To: x264's for h264, x265's for hevc; the AV1 encoders
// have none of them, so a tune with av1 is an error. With a to that is
// missing, wrong or not encoded yet, only the names are checked.
func (d *decoder) tune(v *yaml.Node, path string, vt *VideoTranscode) {
	valid, ok := videoTunes[vt.To]
	if !ok {
		valid = tunes
	}
	switch {
	case ok && len(valid) == 0:
		d.fail(v, path, "%q: %s encoders have no tune; leave tune out", vt.Tune, vt.To)
		vt.Tune = ""
	case !contains(valid, vt.Tune):
		for_ := ""
		if ok {
			for_ = " for " + vt.To
		}
		d.fail(v, path, "%q is not one of %s%s%s", vt.Tune, strings.Join(valid, ", "), for_, suggest(vt.Tune, valid))
		vt.Tune = ""
	}
}

// skipIf reads transcode.video.skip_if.
func (d *decoder) skipIf(v *yaml.Node, path string) *SkipIf {
	si := &SkipIf{}
	conditions := 0
	d.mapping(v, path, skipIfKey, func(key string, k, v *yaml.Node) {
		if null(v) {
			return
		}
		conditions++
		sub := join(path, key)
		switch key {
		case "codec_matches":
			if v.Kind == yaml.SequenceNode && len(v.Content) == 0 {
				d.fail(v, sub, "is empty: list codecs such as hevc, or leave codec_matches out")
			}
			d.list(v, sub, false, func(i int, item *yaml.Node, s string) {
				if s = strings.ToLower(strings.TrimSpace(s)); s == "" {
					d.fail(item, index(sub, i), "an empty codec name")
					return
				}
				si.CodecMatches = append(si.CodecMatches, s)
			})
		case "resolution_within":
			si.ResolutionWithin = d.resolution(v, sub)
		case "bitrate_under":
			si.BitrateUnder = d.bitrate(v, sub)
		}
	})
	if v.Kind == yaml.MappingNode && conditions == 0 {
		d.fail(v, path, "is empty: give codec_matches, resolution_within or bitrate_under, or leave skip_if out")
	}
	return si
}

// audioTranscode reads transcode.audio.
func (d *decoder) audioTranscode(v *yaml.Node, path string) *AudioTranscode {
	at := &AudioTranscode{Preserve: append([]string(nil), defaultPreserve...), To: "aac", Bitrate: 192_000}
	d.mapping(v, path, audioKey, func(key string, k, v *yaml.Node) {
		if null(v) {
			return
		}
		sub := join(path, key)
		switch key {
		case "preserve":
			at.Preserve = []string{}
			d.list(v, sub, false, func(i int, item *yaml.Node, s string) {
				if s = strings.ToLower(strings.TrimSpace(s)); s == "" {
					d.fail(item, index(sub, i), "an empty codec name")
					return
				}
				at.Preserve = append(at.Preserve, s)
			})
		case "to":
			if s, ok := d.codec(v, sub, audioEncodes, audioLater, strings.Join(audioEncodes, ", ")); ok {
				at.To = s
			}
		case "bitrate":
			if b := d.bitrate(v, sub); b > 0 {
				at.Bitrate = b
			}
		}
	})
	return at
}

// bitrate reads a bit rate ("192k", "10M" or a whole number of bits per
// second); 0 after an error.
func (d *decoder) bitrate(v *yaml.Node, path string) int64 {
	if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!str" && v.ShortTag() != "!!int" {
		d.fail(v, path, "must be a bit rate such as 192k or 10M, not %s", describe(v))
		return 0
	}
	b, err := parseBitrate(v.Value)
	if err != nil {
		d.fail(v, path, "%v", err)
		return 0
	}
	return b
}

// resolution reads a named resolution (480p … 8k, any case).
func (d *decoder) resolution(v *yaml.Node, path string) string {
	s, ok := d.str(v, path)
	if !ok {
		return ""
	}
	name := strings.ToLower(strings.TrimSpace(s))
	if _, _, ok := resolutionBox(name); !ok {
		names := resolutionNames()
		d.fail(v, path, "%q is not one of %s%s", s, strings.Join(names, ", "), suggest(name, names))
		return ""
	}
	return name
}

// isThirteen reports whether a YAML integer is 13 ("13", "0xd", "+13").
func isThirteen(s string) bool {
	n, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 0, 64)
	return err == nil && n == SchemaVersion
}

// validPhaseName reports whether s matches upstream's phase name pattern:
// a letter, then up to 63 letters, digits, hyphens or underscores.
func validPhaseName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i, r := range s {
		letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if i == 0 && !letter {
			return false
		}
		if !letter && !(r >= '0' && r <= '9') && r != '-' && r != '_' {
			return false
		}
	}
	return true
}

// contains reports whether list holds s.
func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// suggest returns ` (did you mean "x"?)` for the known word closest to s,
// or "" when none is close.
func suggest(s string, known []string) string {
	best, bestDist := "", 0
	for _, k := range known {
		dist := editDistance(s, k)
		if best == "" || dist < bestDist {
			best, bestDist = k, dist
		}
	}
	limit := 2
	if len(s) > 12 {
		limit = 3
	}
	if best == "" || bestDist > limit || bestDist >= len(s) {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b, in bytes;
// long inputs are not compared.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 20
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
