package media

import (
	"fmt"
	"regexp"
)

// Reader reads ffprobe's JSON (see FromFFProbe) with its options prepared
// once: a caller that reads many files with the same options (a
// directory dry run) compiles the commentary patterns once instead of
// once per file.
type Reader struct {
	patterns []*regexp.Regexp
}

// NewReader prepares opts; an invalid commentary pattern is an error
// naming the pattern.
func NewReader(opts Options) (*Reader, error) {
	patterns := make([]*regexp.Regexp, 0, len(opts.CommentaryPatterns))
	for _, p := range opts.CommentaryPatterns {
		re, err := regexp.Compile("(?i)" + p)
		if err != nil {
			return nil, fmt.Errorf("commentary pattern %q: %w", p, err)
		}
		patterns = append(patterns, re)
	}
	return &Reader{patterns: patterns}, nil
}
