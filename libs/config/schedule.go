package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Schedule is the processing window of jobs.schedule: ranges of local
// wall-clock time ("01:00-07:00") in which workers may start jobs of the
// scheduled kinds. The zero Schedule has no ranges and is always open.
//
// A range includes its start and excludes its end; an end before the
// start crosses midnight ("22:00-02:00"), and "24:00" is the end of the
// day. The time of day is read in the location of the time given to Open
// and the other methods (the daemon passes local time), so on a day
// when the clocks change a range covers the wall-clock times that day
// has: on the spring-forward day "02:00-03:00" in Europe/Berlin never
// opens, and on the fall-back day "02:00-03:00" is open for two hours.
type Schedule struct {
	ranges []clockRange // sorted by start, not overlapping
}

// clockRange is one range of minutes of the day: [start, end), crossing
// midnight when end <= start.
type clockRange struct {
	start, end int // 0..1439, 1..1440
}

const minutesPerDay = 24 * 60

func (r clockRange) crosses() bool { return r.end <= r.start }

// contains reports whether minute m of the day (0..1439) is in r.
func (r clockRange) contains(m int) bool {
	if r.crosses() {
		return m >= r.start || m < r.end
	}
	return m >= r.start && m < r.end
}

// length is the number of minutes r covers.
func (r clockRange) length() int {
	if r.crosses() {
		return minutesPerDay - r.start + r.end
	}
	return r.end - r.start
}

func (r clockRange) String() string {
	return clockText(r.start) + "-" + clockText(r.end)
}

func clockText(m int) string {
	return fmt.Sprintf("%02d:%02d", m/60, m%60)
}

// ParseSchedule parses a jobs.schedule value: comma-separated ranges
// "HH:MM-HH:MM" of local time, such as "01:00-07:00, 22:00-23:30". An
// empty (or blank) value is the schedule that is always open. Ranges may
// cross midnight and must not overlap. An error names the bad range by
// its position and text.
func ParseSchedule(s string) (Schedule, error) {
	if strings.TrimSpace(s) == "" {
		return Schedule{}, nil
	}
	var ranges []clockRange
	var texts []string
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		bad := func(format string, args ...any) (Schedule, error) {
			return Schedule{}, fmt.Errorf("range %d %q: %s", i+1, part, fmt.Sprintf(format, args...))
		}
		if part == "" {
			return bad(`empty (write ranges such as "01:00-07:00", separated by commas)`)
		}
		from, to, ok := strings.Cut(part, "-")
		if !ok {
			return bad(`not a range START-END such as "01:00-07:00"`)
		}
		start, err := parseClock(strings.TrimSpace(from), false)
		if err != nil {
			return bad("start %s", err)
		}
		end, err := parseClock(strings.TrimSpace(to), true)
		if err != nil {
			return bad("end %s", err)
		}
		if start == end {
			return bad("start and end are the same time (an empty range; leave jobs.schedule empty to always run)")
		}
		r := clockRange{start: start, end: end}
		for j, o := range ranges {
			if overlaps(r, o) {
				return bad("overlaps range %d %q", j+1, texts[j])
			}
		}
		ranges = append(ranges, r)
		texts = append(texts, part)
	}
	slices.SortFunc(ranges, func(a, b clockRange) int { return a.start - b.start })
	return Schedule{ranges: ranges}, nil
}

// parseClock parses "HH:MM" (or "H:MM") into minutes of the day; "24:00"
// only when end is set.
func parseClock(s string, end bool) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(m) != 2 || len(h) < 1 || len(h) > 2 {
		return 0, fmt.Errorf("%q is not a time HH:MM", s)
	}
	hour, err1 := strconv.Atoi(h)
	minute, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hour < 0 || minute < 0 || h[0] == '+' || m[0] == '+' {
		return 0, fmt.Errorf("%q is not a time HH:MM", s)
	}
	if end && hour == 24 && minute == 0 {
		return minutesPerDay, nil
	}
	if hour > 23 || minute > 59 {
		limit := "00:00 to 23:59"
		if end {
			limit = "00:00 to 24:00"
		}
		return 0, fmt.Errorf("%q is not a time of day (%s)", s, limit)
	}
	return hour*60 + minute, nil
}

// overlaps reports whether two ranges share a minute.
func overlaps(a, b clockRange) bool {
	for _, m := range []int{a.start, b.start} {
		if a.contains(m) && b.contains(m) {
			return true
		}
	}
	return false
}

// Always reports whether the schedule has no ranges: it is always open.
func (s Schedule) Always() bool { return len(s.ranges) == 0 }

// String returns the canonical form, ranges sorted by start:
// "01:00-07:00, 22:00-23:30"; "" for Always.
func (s Schedule) String() string {
	parts := make([]string, len(s.ranges))
	for i, r := range s.ranges {
		parts[i] = r.String()
	}
	return strings.Join(parts, ", ")
}

// MarshalText implements encoding.TextMarshaler with the canonical form,
// so that JSON shows a Schedule as its string.
func (s Schedule) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseSchedule.
func (s *Schedule) UnmarshalText(text []byte) error {
	v, err := ParseSchedule(string(text))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// fullDay reports whether the ranges cover every minute of the day, so
// that the window never closes.
func (s Schedule) fullDay() bool {
	n := 0
	for _, r := range s.ranges {
		n += r.length()
	}
	return n >= minutesPerDay
}

// Open reports whether t is inside the window, reading t's wall clock in
// t's location.
func (s Schedule) Open(t time.Time) bool {
	if s.Always() {
		return true
	}
	h, m, _ := t.Clock()
	minute := h*60 + m
	for _, r := range s.ranges {
		if r.contains(minute) {
			return true
		}
	}
	return false
}

// NextOpen returns the first instant at or after t at which the window is
// open: t itself when Open(t).
func (s Schedule) NextOpen(t time.Time) time.Time {
	if s.Open(t) {
		return t
	}
	return s.next(t, true)
}

// NextClose returns the first instant after t at which the window is
// closed, when it is open at t; when it is closed at t, the close of the
// window that opens next (NextClose(NextOpen(t))). It returns the zero
// time when the window never closes (Always, or ranges covering the whole
// day).
func (s Schedule) NextClose(t time.Time) time.Time {
	if s.Always() || s.fullDay() {
		return time.Time{}
	}
	if !s.Open(t) {
		t = s.next(t, true)
	}
	return s.next(t, false)
}

// next returns the earliest instant after t at which Open(instant) ==
// open. The window changes only where the wall clock reaches a range's
// start or end, or jumps at a change of the zone's offset; both kinds of
// instants within the next days are the candidates.
func (s Schedule) next(t time.Time, open bool) time.Time {
	loc := t.Location()
	var best time.Time
	consider := func(c time.Time) {
		if c.After(t) && s.Open(c) == open && (best.IsZero() || c.Before(best)) {
			best = c
		}
	}
	// Offset changes: a jump of the wall clock into (or out of) a range.
	for cur, n := t, 0; n < 16; n++ {
		_, end := cur.ZoneBounds()
		if end.IsZero() || end.Sub(t) > 4*24*time.Hour {
			break
		}
		consider(end)
		cur = end
	}
	y, mo, d := t.Date()
	for day := -1; day <= 3; day++ {
		for _, r := range s.ranges {
			minute := r.start
			if !open {
				minute = r.end
			}
			for _, c := range wallInstants(y, mo, d+day, minute, loc) {
				consider(c)
			}
		}
	}
	return best
}

// wallInstants returns the instants at which the wall clock in loc shows
// minute (0..1440) of the given day: usually one, two when the clocks are
// turned back over it, none when they skip it.
func wallInstants(y int, mo time.Month, d, minute int, loc *time.Location) []time.Time {
	wall := time.Date(y, mo, d, 0, minute, 0, 0, time.UTC) // the wall clock reading, as if in UTC
	var out []time.Time
	for _, probe := range []time.Duration{-3 * time.Hour, 0, 3 * time.Hour} {
		_, offset := wall.Add(probe).Add(-offsetAt(wall, loc)).In(loc).Zone()
		c := wall.Add(-time.Duration(offset) * time.Second).In(loc)
		if sameWall(c, wall) && !slices.ContainsFunc(out, c.Equal) {
			out = append(out, c)
		}
	}
	return out
}

// offsetAt is loc's offset at the instant whose UTC reading equals wall,
// a first guess of the offset at the wall time.
func offsetAt(wall time.Time, loc *time.Location) time.Duration {
	_, offset := wall.In(loc).Zone()
	return time.Duration(offset) * time.Second
}

// sameWall reports whether c's wall clock in its location reads exactly
// like wall does in UTC.
func sameWall(c, wall time.Time) bool {
	cy, cm, cd := c.Date()
	wy, wm, wd := wall.Date()
	ch, cmin, cs := c.Clock()
	wh, wmin, ws := wall.Clock()
	return cy == wy && cm == wm && cd == wd && ch == wh && cmin == wmin && cs == ws
}
