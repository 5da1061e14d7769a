package testkinds

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/vpo-project/vpo/libs/jobs"
	"github.com/vpo-project/vpo/libs/store"
)

// SleepKind is the name of the test-only sleep job.
const SleepKind = "test.sleep"

// SleepPayload: {"seconds": 2.5, "ignore_cancel": false, "fail": false}.
type SleepPayload struct {
	Seconds      float64 `json:"seconds"`
	IgnoreCancel bool    `json:"ignore_cancel,omitempty"`
	Fail         bool    `json:"fail,omitempty"`
}

// Sleep waits for the given time, reporting progress. With ignore_cancel it
// keeps sleeping after its context ends (to test that shutdown never waits
// for a misbehaving handler).
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
	return p, nil
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
	total := time.Duration(p.Seconds * float64(time.Second))
	deadline := time.Now().Add(total)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			if !p.IgnoreCancel {
				return nil, ctx.Err()
			}
		case <-tick.C:
		}
		if total > 0 {
			progress.Report(100*float64(total-time.Until(deadline))/float64(total), "sleeping")
		}
		if p.IgnoreCancel && ctx.Err() != nil {
			time.Sleep(time.Until(deadline))
			break
		}
	}
	if p.Fail {
		return nil, errors.New("test.sleep asked to fail")
	}
	return json.Marshal(map[string]float64{"slept_seconds": p.Seconds})
}
