package logging

import (
	"bytes"

	"github.com/sirupsen/logrus"
)

// journalFormatter prefixes every line produced by next with the syslog
// priority of the entry ("<3>" error, "<4>" warning, "<6>" info, "<7>"
// debug), which journald strips and records as the line's severity.
type journalFormatter struct {
	next logrus.Formatter
}

// Format renders entry with the wrapped formatter and prefixes each line.
func (f *journalFormatter) Format(entry *logrus.Entry) ([]byte, error) {
	line, err := f.next.Format(entry)
	if err != nil {
		return nil, err
	}
	prefix := journalPriority(entry.Level)
	body := bytes.TrimSuffix(line, []byte{'\n'})

	out := make([]byte, 0, len(line)+len(prefix)+1)
	for i, part := range bytes.Split(body, []byte{'\n'}) {
		if i > 0 {
			out = append(out, '\n')
		}
		out = append(out, prefix...)
		out = append(out, part...)
	}
	return append(out, '\n'), nil
}

// journalPriority maps a logrus level to a sd-daemon(3) priority prefix.
func journalPriority(level logrus.Level) string {
	switch level {
	case logrus.PanicLevel, logrus.FatalLevel, logrus.ErrorLevel:
		return "<3>"
	case logrus.WarnLevel:
		return "<4>"
	case logrus.InfoLevel:
		return "<6>"
	default:
		return "<7>"
	}
}
