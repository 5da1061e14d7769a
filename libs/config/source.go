package config

import "strconv"

// Source names the layer a configuration value came from.
type Source string

// The layers, from lowest to highest precedence.
const (
	SourceDefault Source = "default"
	SourceEnv     Source = "env"
	SourceFile    Source = "file"
	SourceFlag    Source = "flag"
)

// origin records exactly where a value came from, for Show and errors.
type origin struct {
	source Source
	file   string // SourceFile
	line   int    // SourceFile, 0 if unknown
	name   string // environment variable or flag
}

// String describes the origin for Show: "default", "env VPO_SERVER_PORT",
// "file /etc/vpo/config.toml:7", "flag --port".
func (o origin) String() string {
	switch o.source {
	case SourceEnv, SourceFlag:
		return string(o.source) + " " + o.name
	case SourceFile:
		if o.line > 0 {
			return "file " + o.file + ":" + strconv.Itoa(o.line)
		}
		return "file " + o.file
	default:
		return string(o.source)
	}
}
