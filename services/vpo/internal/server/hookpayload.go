package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// Event types of Sonarr's and Radarr's webhooks that vpo acts on. Both
// applications send "Download" for an imported file; an upgrade (a better
// copy replacing an older one) is a "Download" with "isUpgrade": true.
// "Test" is what their "Test" button sends. Every other event type (Grab,
// Rename, deletions, Health, ApplicationUpdate, …, and types added later)
// is acknowledged and ignored.
const (
	hookEventDownload = "Download"
	hookEventTest     = "Test"
)

// maxHookFiles bounds the files one import event may name (Sonarr's
// "On Import Complete" lists every file of a season pack).
const maxHookFiles = 1000

// hookApp describes where one application puts the imported file in its
// webhook body. The file's full path is file.path, or, when that is
// missing or empty, container.base joined with file.relativePath.
type hookApp struct {
	name      string // "sonarr": also the source handed to the target
	container string // "series" or "movie"
	base      string // the container's folder field: "path" or "folderPath"
	file      string // the single imported file: "episodeFile" or "movieFile"
	files     string // a list of imported files ("" when the app sends none)
}

var (
	sonarrHook = hookApp{name: "sonarr", container: "series", base: "path", file: "episodeFile", files: "episodeFiles"}
	radarrHook = hookApp{name: "radarr", container: "movie", base: "folderPath", file: "movieFile"}
)

// hookEvent is what one webhook body asks of vpo.
type hookEvent struct {
	Type    string     // eventType as sent
	Upgrade bool       // isUpgrade
	Files   []hookFile // the imported files (Download events only)
}

// isImport reports whether the event names files to enqueue.
func (e hookEvent) isImport() bool { return e.Type == hookEventDownload }

// hookFile is one imported file: its path as the application sees it
// (cleaned) and the JSON field(s) it came from, for messages.
type hookFile struct {
	Path  string
	Field string
	// Relative reports that Path is not absolute: vpo cannot find the file
	// (the application runs on another machine or in a container with
	// other mounts). Not a malformed body, a path outside every library.
	Relative bool
}

// hookBodyError is a webhook body vpo cannot read: bad JSON, a field of
// the wrong type, a required field missing. It names the field.
type hookBodyError struct{ msg string }

func (e *hookBodyError) Error() string { return e.msg }

func bodyErrorf(format string, args ...any) error {
	return &hookBodyError{msg: fmt.Sprintf(format, args...)}
}

// wireFile is the part of episodeFile/movieFile vpo reads.
type wireFile struct {
	Path         *string `json:"path"`
	RelativePath *string `json:"relativePath"`
}

// wireSonarr and wireRadarr are the fields vpo reads from each
// application's body; everything else is skipped unread, whatever its type.
type wireSonarr struct {
	EventType *string `json:"eventType"`
	IsUpgrade *bool   `json:"isUpgrade"`
	Series    *struct {
		Path *string `json:"path"`
	} `json:"series"`
	EpisodeFile  *wireFile   `json:"episodeFile"`
	EpisodeFiles []*wireFile `json:"episodeFiles"`
}

type wireRadarr struct {
	EventType *string `json:"eventType"`
	IsUpgrade *bool   `json:"isUpgrade"`
	Movie     *struct {
		FolderPath *string `json:"folderPath"`
	} `json:"movie"`
	MovieFile *wireFile `json:"movieFile"`
}

// wireHook is either application's body in one shape.
type wireHook struct {
	eventType *string
	isUpgrade *bool
	base      *string     // series.path or movie.folderPath
	file      *wireFile   // episodeFile or movieFile
	files     []*wireFile // episodeFiles
}

// decode reads the fields of app's body.
func (app hookApp) decode(body []byte) (wireHook, error) {
	if app == radarrHook {
		var r wireRadarr
		if err := json.Unmarshal(body, &r); err != nil {
			return wireHook{}, err
		}
		w := wireHook{eventType: r.EventType, isUpgrade: r.IsUpgrade, file: r.MovieFile}
		if r.Movie != nil {
			w.base = r.Movie.FolderPath
		}
		return w, nil
	}
	var s wireSonarr
	if err := json.Unmarshal(body, &s); err != nil {
		return wireHook{}, err
	}
	w := wireHook{eventType: s.EventType, isUpgrade: s.IsUpgrade, file: s.EpisodeFile, files: s.EpisodeFiles}
	if s.Series != nil {
		w.base = s.Series.Path
	}
	return w, nil
}

// parseHook reads a webhook body of app. It is pure: no file is looked at.
// Errors are *hookBodyError naming the field.
func parseHook(app hookApp, body []byte) (hookEvent, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return hookEvent{}, bodyErrorf("empty body: %s sends a JSON object with eventType", appTitle(app))
	}
	w, err := app.decode(body)
	if err != nil {
		return hookEvent{}, hookJSONError(err)
	}
	if w.eventType == nil {
		return hookEvent{}, bodyErrorf("field eventType missing (or the body is not a JSON object)")
	}
	ev := hookEvent{Type: *w.eventType}
	if ev.Type == "" {
		return hookEvent{}, bodyErrorf("field eventType is empty")
	}
	if !ev.isImport() {
		return ev, nil
	}
	if w.isUpgrade != nil {
		ev.Upgrade = *w.isUpgrade
	}
	files, listed := []*wireFile{w.file}, false
	if w.file == nil && len(w.files) > 0 {
		files, listed = w.files, true
	}
	if files[0] == nil {
		also := ""
		if app.files != "" {
			also = ", or lists them in " + app.files
		}
		return hookEvent{}, bodyErrorf("field %s missing: a %s event names the imported file in %s.path (or %s.%s and %s.relativePath)%s",
			app.file, hookEventDownload, app.file, app.container, app.base, app.file, also)
	}
	if len(files) > maxHookFiles {
		return hookEvent{}, bodyErrorf("field %s lists %d files, at most %d", app.files, len(files), maxHookFiles)
	}
	for i, f := range files {
		field := app.file
		if listed {
			field = fmt.Sprintf("%s[%d]", app.files, i)
		}
		hf, err := app.resolve(w.base, f, field)
		if err != nil {
			return hookEvent{}, err
		}
		ev.Files = append(ev.Files, hf)
	}
	return ev, nil
}

// resolve finds the full path of one imported file.
func (app hookApp) resolve(base *string, f *wireFile, field string) (hookFile, error) {
	if f == nil {
		return hookFile{}, bodyErrorf("field %s is null, want an object with path or relativePath", field)
	}
	if f.Path != nil && *f.Path != "" {
		return checkedPath(*f.Path, field+".path")
	}
	if f.RelativePath == nil || *f.RelativePath == "" {
		return hookFile{}, bodyErrorf("fields %s.path and %s.relativePath missing: one names the imported file", field, field)
	}
	rel := *f.RelativePath
	relField := field + ".relativePath"
	if strings.IndexByte(rel, 0) >= 0 {
		return hookFile{}, bodyErrorf("field %s %q holds a NUL byte", relField, rel)
	}
	if !filepath.IsLocal(rel) {
		return hookFile{}, bodyErrorf("field %s %q must be a path inside %s.%s (relative, without \"..\")", relField, rel, app.container, app.base)
	}
	baseField := app.container + "." + app.base
	if base == nil || *base == "" {
		return hookFile{}, bodyErrorf("field %s missing: %s is relative to it (or send %s.path)", baseField, relField, field)
	}
	hf, err := checkedPath(*base, baseField)
	if err != nil {
		return hookFile{}, err
	}
	hf.Path = filepath.Join(hf.Path, rel)
	hf.Field = baseField + " + " + relField
	return hf, nil
}

// checkedPath cleans a path from field. A NUL byte is a bad body; a path
// that is not absolute is returned with Relative set.
func checkedPath(p, field string) (hookFile, error) {
	if strings.IndexByte(p, 0) >= 0 {
		return hookFile{}, bodyErrorf("field %s %q holds a NUL byte", field, p)
	}
	return hookFile{Path: filepath.Clean(p), Field: field, Relative: !filepath.IsAbs(p)}, nil
}

// hookJSONError names the field of a JSON decoding error.
func hookJSONError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return bodyErrorf("invalid JSON at byte %d: %v", syn.Offset, err)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return bodyErrorf("body must be a JSON object, not %s", typ.Value)
		}
		return bodyErrorf("field %s must be %s, not %s", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value)
	}
	return bodyErrorf("invalid JSON: %v", err)
}

// jsonKind names a Go kind as its JSON type.
func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "ptr", "struct", "map":
		return "an object"
	case "slice", "array":
		return "an array"
	}
	return k
}

// appTitle is the application's name as its users spell it.
func appTitle(app hookApp) string {
	return strings.ToUpper(app.name[:1]) + app.name[1:]
}
