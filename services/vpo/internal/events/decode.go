package events

import (
	"bufio"
	"io"
	"strings"
)

// Message is one event of a text/event-stream as a client reads it.
type Message struct {
	ID, Type, Data string
	// Comment is the text of the last comment line before the event
	// (": heartbeat"), for messages that are only a comment.
	Comment string
}

// Decoder reads the events of a text/event-stream (the client side of
// /api/events: `vpo jobs logs --follow`, tests).
type Decoder struct {
	sc *bufio.Scanner
}

// NewDecoder reads from r; lines may be up to 4 MiB long.
func NewDecoder(r io.Reader) *Decoder {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	return &Decoder{sc: sc}
}

// Next returns the next message; ok is false at the end of the stream
// (Err says why, nil when the server ended it).
func (d *Decoder) Next() (m Message, ok bool) {
	for d.sc.Scan() {
		line := d.sc.Text()
		switch {
		case line == "":
			if m != (Message{}) {
				return m, true
			}
		case strings.HasPrefix(line, ":"):
			m.Comment = strings.TrimSpace(line[1:])
		case strings.HasPrefix(line, "id:"):
			m.ID = strings.TrimPrefix(line[3:], " ")
		case strings.HasPrefix(line, "event:"):
			m.Type = strings.TrimPrefix(line[6:], " ")
		case strings.HasPrefix(line, "data:"):
			m.Data = strings.TrimPrefix(line[5:], " ")
		}
	}
	return Message{}, false
}

// Err is the error that ended the stream, if any.
func (d *Decoder) Err() error { return d.sc.Err() }
