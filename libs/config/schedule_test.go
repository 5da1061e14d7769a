package config_test

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/config"
)

func TestParseSchedule(t *testing.T) {
	for _, tt := range []struct {
		in, want, err string
	}{
		{in: "", want: ""},
		{in: "   ", want: ""},
		{in: "01:00-07:00", want: "01:00-07:00"},
		{in: " 22:00-23:30 ,1:00-7:05", want: "01:00-07:05, 22:00-23:30"},
		{in: "22:00-02:00", want: "22:00-02:00"},
		{in: "00:00-24:00", want: "00:00-24:00"},
		{in: "18:00-24:00, 00:00-06:00", want: "00:00-06:00, 18:00-24:00"},
		{in: "01:00-07:00, 07:00-08:00", want: "01:00-07:00, 07:00-08:00"},
		{in: "01:00", err: `range 1 "01:00": not a range START-END`},
		{in: "01:00-07:00,", err: `range 2 "": empty`},
		{in: "01:00-07:00, 25:00-26:00", err: `range 2 "25:00-26:00": start "25:00" is not a time of day (00:00 to 23:59)`},
		{in: "01:00-24:01", err: `range 1 "01:00-24:01": end "24:01" is not a time of day (00:00 to 24:00)`},
		{in: "24:00-01:00", err: `range 1 "24:00-01:00": start "24:00" is not a time of day (00:00 to 23:59)`},
		{in: "1-7", err: `range 1 "1-7": start "1" is not a time HH:MM`},
		{in: "01:60-02:00", err: `start "01:60" is not a time of day`},
		{in: "01:0-02:00", err: `start "01:0" is not a time HH:MM`},
		{in: "+1:00-02:00", err: `start "+1:00" is not a time HH:MM`},
		{in: "-1:00-02:00", err: `range 1 "-1:00-02:00": start "" is not a time HH:MM`},
		{in: "03:00-03:00", err: `range 1 "03:00-03:00": start and end are the same time`},
		{in: "01:00-07:00, 06:00-08:00", err: `range 2 "06:00-08:00": overlaps range 1 "01:00-07:00"`},
		{in: "22:00-02:00, 01:00-03:00", err: `range 2 "01:00-03:00": overlaps range 1 "22:00-02:00"`},
		{in: "02:00-03:00, 22:00-02:30", err: `range 2 "22:00-02:30": overlaps range 1 "02:00-03:00"`},
	} {
		t.Run(tt.in, func(t *testing.T) {
			s, err := config.ParseSchedule(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseSchedule(%q) = %v, %v; want an error containing %q", tt.in, s, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSchedule(%q): %v", tt.in, err)
			}
			if got := s.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			if s.Always() != (tt.want == "") {
				t.Errorf("Always() = %v", s.Always())
			}
			again, err := config.ParseSchedule(s.String())
			if err != nil || again.String() != s.String() {
				t.Errorf("canonical form %q does not parse back: %v, %v", s.String(), again, err)
			}
		})
	}
}

func mustLocation(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("time zone %s: %v (the tests need the tz database)", name, err)
	}
	return loc
}

// TestScheduleWindows: Open, NextOpen and NextClose at chosen instants,
// on ordinary days and on the days the clocks change.
func TestScheduleWindows(t *testing.T) {
	berlin := mustLocation(t, "Europe/Berlin")
	newYork := mustLocation(t, "America/New_York")
	at := func(loc *time.Location, s string) time.Time {
		t.Helper()
		v, err := time.ParseInLocation("2006-01-02 15:04:05", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// utc gives an instant by its UTC time, shown in loc.
	utc := func(loc *time.Location, s string) time.Time { return at(time.UTC, s).In(loc) }
	for _, tt := range []struct {
		name      string
		schedule  string
		now       time.Time
		open      bool
		nextOpen  time.Time
		nextClose time.Time
	}{
		{
			name: "inside", schedule: "01:00-07:00", now: at(berlin, "2026-06-10 03:00:00"),
			open: true, nextOpen: at(berlin, "2026-06-10 03:00:00"), nextClose: at(berlin, "2026-06-10 07:00:00"),
		},
		{
			name: "start is open", schedule: "01:00-07:00", now: at(berlin, "2026-06-10 01:00:00"),
			open: true, nextOpen: at(berlin, "2026-06-10 01:00:00"), nextClose: at(berlin, "2026-06-10 07:00:00"),
		},
		{
			name: "end is closed", schedule: "01:00-07:00", now: at(berlin, "2026-06-10 07:00:00"),
			nextOpen: at(berlin, "2026-06-11 01:00:00"), nextClose: at(berlin, "2026-06-11 07:00:00"),
		},
		{
			name: "before, seconds", schedule: "01:00-07:00", now: at(berlin, "2026-06-10 00:59:59"),
			nextOpen: at(berlin, "2026-06-10 01:00:00"), nextClose: at(berlin, "2026-06-10 07:00:00"),
		},
		{
			name: "crosses midnight, evening", schedule: "22:00-02:00", now: at(berlin, "2026-06-10 23:30:00"),
			open: true, nextOpen: at(berlin, "2026-06-10 23:30:00"), nextClose: at(berlin, "2026-06-11 02:00:00"),
		},
		{
			name: "crosses midnight, morning", schedule: "22:00-02:00", now: at(berlin, "2026-06-11 01:59:00"),
			open: true, nextOpen: at(berlin, "2026-06-11 01:59:00"), nextClose: at(berlin, "2026-06-11 02:00:00"),
		},
		{
			name: "crosses midnight, afternoon", schedule: "22:00-02:00", now: at(berlin, "2026-06-11 15:00:00"),
			nextOpen: at(berlin, "2026-06-11 22:00:00"), nextClose: at(berlin, "2026-06-12 02:00:00"),
		},
		{
			name: "two ranges, between", schedule: "01:00-07:00, 22:00-23:30", now: at(berlin, "2026-06-10 12:00:00"),
			nextOpen: at(berlin, "2026-06-10 22:00:00"), nextClose: at(berlin, "2026-06-10 23:30:00"),
		},
		{
			name: "adjacent ranges close once", schedule: "23:00-24:00, 00:00-01:00", now: at(berlin, "2026-06-10 23:10:00"),
			open: true, nextOpen: at(berlin, "2026-06-10 23:10:00"), nextClose: at(berlin, "2026-06-11 01:00:00"),
		},
		{
			name: "whole day never closes", schedule: "00:00-24:00", now: at(berlin, "2026-06-10 12:00:00"),
			open: true, nextOpen: at(berlin, "2026-06-10 12:00:00"),
		},
		// Berlin, 2026-03-29: 02:00 CET becomes 03:00 CEST (01:00 UTC).
		{
			name: "spring forward skips a range", schedule: "02:00-02:30", now: at(berlin, "2026-03-29 00:00:00"),
			nextOpen: at(berlin, "2026-03-30 02:00:00"), nextClose: at(berlin, "2026-03-30 02:30:00"),
		},
		{
			name: "spring forward jumps into a range", schedule: "02:30-04:00", now: at(berlin, "2026-03-29 01:30:00"),
			nextOpen: utc(berlin, "2026-03-29 01:00:00"), nextClose: at(berlin, "2026-03-29 04:00:00"),
		},
		{
			name: "spring forward, range around the gap", schedule: "01:00-07:00", now: at(berlin, "2026-03-29 01:30:00"),
			open: true, nextOpen: at(berlin, "2026-03-29 01:30:00"), nextClose: utc(berlin, "2026-03-29 05:00:00"),
		},
		{
			name: "spring forward jumps out of a range", schedule: "01:00-02:30", now: at(berlin, "2026-03-29 01:45:00"),
			open: true, nextOpen: at(berlin, "2026-03-29 01:45:00"), nextClose: utc(berlin, "2026-03-29 01:00:00"),
		},
		// Berlin, 2026-10-25: 03:00 CEST becomes 02:00 CET (01:00 UTC);
		// 02:00-03:00 happens twice.
		{
			name: "fall back, first pass", schedule: "02:30-02:45", now: utc(berlin, "2026-10-24 23:00:00"),
			nextOpen: utc(berlin, "2026-10-25 00:30:00"), nextClose: utc(berlin, "2026-10-25 00:45:00"),
		},
		{
			name: "fall back, second pass", schedule: "02:30-02:45", now: utc(berlin, "2026-10-25 00:50:00"),
			nextOpen: utc(berlin, "2026-10-25 01:30:00"), nextClose: utc(berlin, "2026-10-25 01:45:00"),
		},
		{
			name: "fall back, the clock returns into a range", schedule: "02:00-02:30", now: utc(berlin, "2026-10-25 00:40:00"),
			nextOpen: utc(berlin, "2026-10-25 01:00:00"), nextClose: utc(berlin, "2026-10-25 01:30:00"),
		},
		{
			name: "fall back, long night", schedule: "01:00-07:00", now: at(berlin, "2026-10-25 00:30:00"),
			nextOpen: utc(berlin, "2026-10-24 23:00:00"), nextClose: utc(berlin, "2026-10-25 06:00:00"),
		},
		// New York, 2026-03-08: 02:00 EST becomes 03:00 EDT (07:00 UTC);
		// 2026-11-01: 02:00 EDT becomes 01:00 EST (06:00 UTC).
		{
			name: "New York spring forward", schedule: "02:00-03:00, 22:00-23:00", now: at(newYork, "2026-03-08 00:00:00"),
			nextOpen: at(newYork, "2026-03-08 22:00:00"), nextClose: at(newYork, "2026-03-08 23:00:00"),
		},
		{
			name: "New York fall back", schedule: "01:00-02:00", now: at(newYork, "2026-11-01 00:00:00"),
			nextOpen: utc(newYork, "2026-11-01 05:00:00"), nextClose: utc(newYork, "2026-11-01 07:00:00"),
		},
		{
			name: "UTC", schedule: "01:00-07:00", now: at(time.UTC, "2026-12-31 08:00:00"),
			nextOpen: at(time.UTC, "2027-01-01 01:00:00"), nextClose: at(time.UTC, "2027-01-01 07:00:00"),
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := config.ParseSchedule(tt.schedule)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Open(tt.now); got != tt.open {
				t.Errorf("Open(%v) = %v, want %v", tt.now, got, tt.open)
			}
			if got := s.NextOpen(tt.now); !got.Equal(tt.nextOpen) {
				t.Errorf("NextOpen(%v) = %v, want %v", tt.now, got, tt.nextOpen)
			}
			if got := s.NextClose(tt.now); !got.Equal(tt.nextClose) {
				t.Errorf("NextClose(%v) = %v, want %v", tt.now, got, tt.nextClose)
			}
		})
	}
}

func TestScheduleText(t *testing.T) {
	var v struct{ Schedule config.Schedule }
	if err := json.Unmarshal([]byte(`{"Schedule": "22:00-2:00, 01:00-01:30"}`), &v); err == nil {
		t.Errorf("overlapping ranges decoded: %v", v.Schedule)
	}
	if err := json.Unmarshal([]byte(`{"Schedule": "22:00-2:00,03:00-04:00"}`), &v); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(v)
	if err != nil || string(out) != `{"Schedule":"03:00-04:00, 22:00-02:00"}` {
		t.Errorf("json = %s, %v", out, err)
	}
}

func TestScheduleAlways(t *testing.T) {
	var s config.Schedule
	now := time.Date(2026, 3, 29, 2, 30, 0, 0, time.UTC)
	if !s.Always() || !s.Open(now) || !s.NextOpen(now).Equal(now) || !s.NextClose(now).IsZero() || s.String() != "" {
		t.Errorf("zero Schedule: Always %v, Open %v, NextOpen %v, NextClose %v, String %q",
			s.Always(), s.Open(now), s.NextOpen(now), s.NextClose(now), s.String())
	}
}

// TestScheduleAgainstMinuteScan compares NextOpen and NextClose with a
// walk over every minute, at random instants in zones with clock changes
// (Lord Howe moves by 30 minutes), around their change days.
func TestScheduleAgainstMinuteScan(t *testing.T) {
	schedules := []string{"01:00-07:00", "02:00-02:30", "02:30-04:00", "22:00-02:00", "01:00-07:00, 22:00-23:30",
		"00:00-01:00, 01:30-02:15, 02:45-03:00", "23:59-00:01", "00:00-24:00"}
	zones := []string{"Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC"}
	days := []string{"2026-03-08", "2026-03-29", "2026-04-05", "2026-10-04", "2026-10-25", "2026-11-01", "2026-06-15"}
	rng := rand.New(rand.NewPCG(12, 12))
	for _, zone := range zones {
		loc := mustLocation(t, zone)
		for _, text := range schedules {
			s, err := config.ParseSchedule(text)
			if err != nil {
				t.Fatal(err)
			}
			for _, day := range days {
				base, _ := time.ParseInLocation("2006-01-02", day, loc)
				for range 12 {
					now := base.Add(time.Duration(rng.Int64N(int64(48 * time.Hour)))).Add(-12 * time.Hour)
					if rng.IntN(3) == 0 {
						now = now.Truncate(time.Minute)
					}
					wantOpen := scanFor(s, now, true)
					if got := s.NextOpen(now); !got.Equal(wantOpen) {
						t.Errorf("%s %q: NextOpen(%v) = %v, want %v", zone, text, now, got, wantOpen)
					}
					var wantClose time.Time
					if text != "00:00-24:00" {
						wantClose = scanFor(s, wantOpen, false)
					}
					if got := s.NextClose(now); !got.Equal(wantClose) {
						t.Errorf("%s %q: NextClose(%v) = %v, want %v", zone, text, now, got, wantClose)
					}
				}
			}
		}
	}
}

// scanFor returns the first instant at or after t (after t when open is
// false) at which s.Open is open, walking minute by minute.
func scanFor(s config.Schedule, t time.Time, open bool) time.Time {
	if open && s.Open(t) {
		return t
	}
	for c := t.Truncate(time.Minute).Add(time.Minute); c.Sub(t) < 5*24*time.Hour; c = c.Add(time.Minute) {
		if s.Open(c) == open {
			return c
		}
	}
	return time.Time{}
}

// FuzzSchedule: any accepted schedule parses back from its canonical form,
// NextOpen is open and not before t, NextClose is closed and after it.
func FuzzSchedule(f *testing.F) {
	for _, s := range []string{"", "01:00-07:00", "22:00-02:00, 03:00-04:00", "00:00-24:00", "23:59-00:00", "2:30-2:31", "1:00-1:00", "x"} {
		f.Add(s, int64(1774746000)) // 2026-03-29 01:00 UTC, Berlin's spring forward
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, text string, unix int64) {
		s, err := config.ParseSchedule(text)
		if err != nil {
			return
		}
		again, err := config.ParseSchedule(s.String())
		if err != nil || again.String() != s.String() {
			t.Fatalf("%q: canonical %q does not parse back: %v", text, s.String(), err)
		}
		now := time.Unix(unix%(1<<33), 0).In(berlin)
		open := s.NextOpen(now)
		if open.Before(now) || !s.Open(open) {
			t.Fatalf("%q at %v: NextOpen %v", s, now, open)
		}
		if closing := s.NextClose(now); !closing.IsZero() && (!closing.After(open) || s.Open(closing)) {
			t.Fatalf("%q at %v: NextClose %v (NextOpen %v)", s, now, closing, open)
		}
	})
}
