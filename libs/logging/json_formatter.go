package logging

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/sirupsen/logrus"
)

// Keys of the JSON format.
const (
	jsonKeyTimestamp = "timestamp"
	jsonKeyLevel     = "level"
	jsonKeyMessage   = "message"
	jsonKeyFunc      = "func"
	jsonKeyFile      = "file"
)

// jsonFormatter writes an entry as one JSON object per line: timestamp,
// level, logger (when set) and message first, then the context fields
// sorted by key, then the caller when it is reported.
type jsonFormatter struct{}

// Format renders entry as one line of JSON.
func (f *jsonFormatter) Format(entry *logrus.Entry) ([]byte, error) {
	b := entry.Buffer
	if b == nil {
		b = &bytes.Buffer{}
	}
	hasCaller := entry.HasCaller()

	b.WriteByte('{')
	writeJSONPair(b, jsonKeyTimestamp, entry.Time.UTC().Format(time.RFC3339Nano), true)
	writeJSONPair(b, jsonKeyLevel, entry.Level.String(), false)
	if v, ok := entry.Data[FieldLogger]; ok {
		writeJSONPair(b, FieldLogger, v, false)
	}
	writeJSONPair(b, jsonKeyMessage, entry.Message, false)

	keys := make([]string, 0, len(entry.Data))
	for k := range entry.Data {
		if k != FieldLogger {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		name := k
		if isReservedJSONKey(k, hasCaller) {
			name = "fields." + k // like logrus: never shadow a fixed key
		}
		writeJSONPair(b, name, entry.Data[k], false)
	}

	if hasCaller {
		writeJSONPair(b, jsonKeyFunc, entry.Caller.Function, false)
		writeJSONPair(b, jsonKeyFile, fmt.Sprintf("%s:%d", entry.Caller.File, entry.Caller.Line), false)
	}
	b.WriteString("}\n")
	return b.Bytes(), nil
}

func isReservedJSONKey(k string, hasCaller bool) bool {
	switch k {
	case jsonKeyTimestamp, jsonKeyLevel, jsonKeyMessage:
		return true
	case jsonKeyFunc, jsonKeyFile:
		return hasCaller
	default:
		return false
	}
}

// writeJSONPair appends "key":value to b, preceded by a comma unless first.
// Errors are written as their message; a value that cannot be encoded is
// written as its fmt representation, so a line is never lost.
func writeJSONPair(b *bytes.Buffer, key string, value any, first bool) {
	if !first {
		b.WriteByte(',')
	}
	writeJSONValue(b, key)
	b.WriteByte(':')
	if err, ok := value.(error); ok {
		value = err.Error()
	}
	if !writeJSONValue(b, value) {
		writeJSONValue(b, fmt.Sprintf("%+v", value))
	}
}

// writeJSONValue appends the JSON encoding of v to b without HTML escaping
// and without a trailing newline. It reports false, leaving b unchanged,
// when v cannot be encoded.
func writeJSONValue(b *bytes.Buffer, v any) bool {
	n := b.Len()
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		b.Truncate(n)
		return false
	}
	b.Truncate(b.Len() - 1) // Encode appends '\n'
	return true
}
