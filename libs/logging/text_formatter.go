package logging

import (
	"slices"
	"strings"

	"github.com/sirupsen/logrus"
)

// textTimestampFormat is RFC 3339 with milliseconds: full but short.
const textTimestampFormat = "2006-01-02T15:04:05.000Z07:00"

// newTextFormatter returns the human-readable formatter. journal drops the
// timestamp, which journald records itself.
func newTextFormatter(journal bool) *logrus.TextFormatter {
	return &logrus.TextFormatter{
		DisableColors:    true,
		FullTimestamp:    true,
		TimestampFormat:  textTimestampFormat,
		DisableTimestamp: journal,
		QuoteEmptyFields: true,
		SortingFunc:      sortTextKeys,
	}
}

// sortTextKeys orders the keys of a text line: time, level, logger, msg,
// the context fields alphabetically, then logrus's own error and the caller.
func sortTextKeys(keys []string) {
	slices.SortStableFunc(keys, func(a, b string) int {
		if ra, rb := textKeyRank(a), textKeyRank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
}

func textKeyRank(key string) int {
	switch key {
	case logrus.FieldKeyTime:
		return 0
	case logrus.FieldKeyLevel:
		return 1
	case FieldLogger:
		return 2
	case logrus.FieldKeyMsg:
		return 3
	case logrus.FieldKeyLogrusError:
		return 5
	case logrus.FieldKeyFunc:
		return 6
	case logrus.FieldKeyFile:
		return 7
	default:
		return 4
	}
}
