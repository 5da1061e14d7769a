package testkinds

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vpo-project/vpo/libs/jobs"
	"github.com/vpo-project/vpo/libs/store"
)

// SleepKind is the name of the test-only sleep job.
const SleepKind = "test.sleep"

// SleepPayload: {"seconds": 2.5, "ignore_cancel": false, "fail": false,
// "silent": false, "record": "/abs/runs.log"}.
type SleepPayload struct {
	Seconds      float64 `json:"seconds"`
	IgnoreCancel bool    `json:"ignore_cancel,omitempty"`
	Fail         bool    `json:"fail,omitempty"`
	// Silent makes the job report no progress at all, as a stuck tool
	// would (to test stall detection).
	Silent bool `json:"silent,omitempty"`
	// Record, when set, is a file to which every run appends one line when
	// it starts ("start JOB_ID") and one when it ends: "done JOB_ID" when
	// the whole sleep ran, "stopped JOB_ID" when its context ended first.
	// Tests count the runs of a job with it.
	Record string `json:"record,omitempty"`
}

// Sleep waits for the given time, reporting progress and the time left
// (unless silent). With ignore_cancel it keeps sleeping after its context
// ends (to test that shutdown never waits for a misbehaving handler).
type Sleep struct{}

func parseSleep(raw json.RawMessage) (SleepPayload, error) {
	var p SleepPayload
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("test.sleep payload: %w", err)
	}
	if p.Seconds < 0 || p.Seconds > 3600 {
		return p, fmt.Errorf("test.sleep payload: seconds %v out of range 0..3600", p.Seconds)
	}
	if p.Record != "" && !filepath.IsAbs(p.Record) {
		return p, fmt.Errorf("test.sleep payload: record %q must be an absolute path", p.Record)
	}
	return p, nil
}

// record appends "event JOB_ID" to the payload's record file, if any.
func record(p SleepPayload, event string, job store.Job) error {
	if p.Record == "" {
		return nil
	}
	f, err := os.OpenFile(p.Record, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("test.sleep record: %w", err)
	}
	_, err = fmt.Fprintf(f, "%s %s\n", event, job.ID)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("test.sleep record %q: %w", p.Record, err)
	}
	return nil
}

// Validate checks the payload at submission.
func (Sleep) Validate(raw json.RawMessage) error {
	_, err := parseSleep(raw)
	return err
}

// Run implements jobs.Handler.
func (Sleep) Run(ctx context.Context, job store.Job, progress jobs.Progress) (json.RawMessage, error) {
	p, err := parseSleep(job.Payload)
	if err != nil {
		return nil, err
	}
	if err := record(p, "start", job); err != nil {
		return nil, err
	}
	total := time.Duration(p.Seconds * float64(time.Second))
	deadline := time.Now().Add(total)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			if !p.IgnoreCancel {
				return nil, errors.Join(ctx.Err(), record(p, "stopped", job))
			}
		case <-tick.C:
		}
		if total > 0 && !p.Silent {
			left := max(time.Until(deadline), 0)
			progress.ReportETA(100*float64(total-left)/float64(total), "sleeping", left)
		}
		if p.IgnoreCancel && ctx.Err() != nil {
			time.Sleep(time.Until(deadline))
			break
		}
	}
	if err := record(p, "done", job); err != nil {
		return nil, err
	}
	if p.Fail {
		return nil, errors.New("test.sleep asked to fail")
	}
	return json.Marshal(map[string]float64{"slept_seconds": p.Seconds})
}
