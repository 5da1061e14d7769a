package transcode

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// maxProgressLine bounds one line of ffmpeg's -progress output; a longer
// line is an error, not a reason to buffer without end.
const maxProgressLine = 4 << 10

// Progress is one block of ffmpeg's -progress output, read against the
// duration of the input.
type Progress struct {
	// OutTime is how much of the output has been written, in media time.
	OutTime time.Duration
	// Speed is ffmpeg's speed (media seconds per wall second); 0 when
	// ffmpeg does not know it yet ("N/A").
	Speed float64
	// Frame is the number of video frames written so far.
	Frame int64
	// End is true in ffmpeg's last block ("progress=end").
	End bool
}

// Percent is how much of total is done, 0..100 (100 once End is seen); 0
// when total is unknown.
func (p Progress) Percent(total time.Duration) float64 {
	if p.End {
		return 100
	}
	if total <= 0 || p.OutTime <= 0 {
		return 0
	}
	return min(100, 100*float64(p.OutTime)/float64(total))
}

// ETA is the wall time left at the current speed; ok is false when it
// cannot be told (no total, no speed yet).
func (p Progress) ETA(total time.Duration) (eta time.Duration, ok bool) {
	if p.End {
		return 0, true
	}
	if total <= 0 || p.Speed <= 0 {
		return 0, false
	}
	left := max(total-p.OutTime, 0)
	return time.Duration(float64(left) / p.Speed).Round(time.Second), true
}

// Message describes p for a job's progress_message:
// "speed 2.4x, 00:01:10 of 00:04:00".
func (p Progress) Message(total time.Duration) string {
	var b strings.Builder
	if p.Speed > 0 {
		fmt.Fprintf(&b, "speed %sx, ", strconv.FormatFloat(p.Speed, 'f', -1, 64))
	}
	b.WriteString(clock(p.OutTime))
	if total > 0 {
		b.WriteString(" of " + clock(total))
	}
	return b.String()
}

// clock prints d as HH:MM:SS.
func clock(d time.Duration) string {
	s := int64(max(d, 0) / time.Second)
	return fmt.Sprintf("%02d:%02d:%02d", s/3600, s/60%60, s%60)
}

// ReadProgress reads ffmpeg's -progress output from r and calls report
// with each complete block, in order, until "progress=end" or the end of
// r. Unknown keys are ignored (ffmpeg adds some between versions); a known
// key with a value that is not a number (other than ffmpeg's "N/A") or a
// line without "=" is an error naming the line, as is a line longer than
// 4 KiB. It returns nil at the end of r, also when the last block or
// line was cut short (ffmpeg was killed).
func ReadProgress(r io.Reader, report func(Progress)) error {
	br := bufio.NewReaderSize(r, maxProgressLine)
	var cur Progress
	for n := 1; ; n++ {
		raw, err := br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			return fmt.Errorf("ffmpeg progress line %d: longer than %d bytes", n, maxProgressLine)
		case errors.Is(err, io.EOF):
			// A last line without its newline was cut short (ffmpeg was
			// killed mid-write): not a line to judge.
			return nil
		case err != nil:
			return fmt.Errorf("ffmpeg progress: %w", err)
		}
		line := strings.TrimSpace(string(raw))
		if line == "" {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return fmt.Errorf("ffmpeg progress line %d: %q is not key=value", n, line)
		}
		if err := cur.set(key, strings.TrimSpace(value)); err != nil {
			return fmt.Errorf("ffmpeg progress line %d: %w", n, err)
		}
		if key == "progress" {
			report(cur)
			if cur.End {
				return nil
			}
			cur.Frame, cur.Speed = 0, 0
		}
	}
}

// set stores one key of a block.
func (p *Progress) set(key, value string) error {
	switch key {
	case "out_time_us", "out_time_ms":
		// Both are microseconds (out_time_ms is misnamed by ffmpeg).
		if value == "N/A" {
			return nil
		}
		us, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return fmt.Errorf("%s=%q is not a number", key, value)
		}
		if us >= 0 && us < math.MaxInt64/int64(time.Microsecond) {
			p.OutTime = time.Duration(us) * time.Microsecond
		}
	case "speed":
		if value == "N/A" {
			return nil
		}
		f, err := strconv.ParseFloat(strings.TrimSuffix(value, "x"), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
			return fmt.Errorf("speed=%q is not a speed", value)
		}
		p.Speed = f
	case "frame":
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("frame=%q is not a frame count", value)
		}
		p.Frame = n
	case "progress":
		switch value {
		case "continue":
		case "end":
			p.End = true
		default:
			return fmt.Errorf("progress=%q is neither continue nor end", value)
		}
	}
	return nil
}
