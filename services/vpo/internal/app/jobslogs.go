package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/events"
)

// followLinger is how long `vpo jobs logs --follow` goes on reading after
// its job finished: the last lines (the pool's "job completed") are
// stored a moment after the status.
const followLinger = 2 * time.Second

// logLineJSON is a line as GET /api/jobs/{id}/log and the job.log events
// carry it.
type logLineJSON struct {
	Seq   int64     `json:"seq"`
	At    time.Time `json:"at"`
	Level string    `json:"level"`
	Line  string    `json:"line"`
}

func addJobsLogs(jobsCmd *kingpin.CmdClause, env Env, cmds map[string]commandFunc) {
	cmd := jobsCmd.Command("logs", "Print the log lines of one job (the last 1,000 kept); --follow prints new lines until the job ends.")
	cf := addClientFlags(cmd)
	id := cmd.Arg("id", "Job ID.").Required().String()
	follow := cmd.Flag("follow", "Go on printing new lines as they come (over /api/events) until the job ends.").Short('f').Bool()
	cmds[cmd.FullCommand()] = func(ctx context.Context) error {
		c, err := cf.client(env)
		if err != nil {
			return err
		}
		p := &logPrinter{w: env.Stdout, json: cf.json}
		var stream *eventStream
		if *follow {
			// Open the stream first: no line is lost between the pages
			// read below and the stream.
			if stream, err = c.events(ctx, "types=job.log,job.finished&job="+urlQuery(*id)); err != nil {
				return err
			}
			defer stream.Close()
		}
		var job store.Job
		if err := c.do(ctx, "GET", "/api/jobs/"+urlQuery(*id), nil, &job); err != nil {
			return err
		}
		for {
			var page struct {
				Lines []logLineJSON `json:"lines"`
			}
			q := fmt.Sprintf("/api/jobs/%s/log?after=%d", urlQuery(*id), p.last)
			if err := c.do(ctx, "GET", q, nil, &page); err != nil {
				return err
			}
			for _, l := range page.Lines {
				p.print(l)
			}
			if len(page.Lines) < store.MaxJobLogLines {
				break
			}
		}
		if stream == nil {
			return p.err
		}
		return p.follow(ctx, stream, job.Status == store.StatusQueued || job.Status == store.StatusRunning)
	}
}

// logPrinter prints a job's lines once each, in order.
type logPrinter struct {
	w    io.Writer
	json bool
	last int64
	err  error
}

func (p *logPrinter) print(l logLineJSON) {
	if l.Seq <= p.last || p.err != nil {
		return
	}
	p.last = l.Seq
	if p.json {
		p.err = json.NewEncoder(p.w).Encode(l)
		return
	}
	_, p.err = fmt.Fprintf(p.w, "%s %-7s %s\n", l.At.Local().Format("2006-01-02 15:04:05.000"), l.Level, l.Line)
}

// follow prints the job.log events of stream until the job finished (and
// followLinger passed) or the stream ends.
func (p *logPrinter) follow(ctx context.Context, s *eventStream, active bool) error {
	linger := time.NewTimer(followLinger)
	defer linger.Stop()
	if active {
		linger.Stop()
	}
	evs := s.events()
	for {
		select {
		case ev, ok := <-evs:
			if !ok {
				if err := s.Err(); err != nil {
					return withCode(ExitUnavailable, fmt.Errorf("event stream of the daemon ended: %w", err))
				}
				return withCode(ExitUnavailable, fmt.Errorf("event stream of the daemon ended (vpo stopped?)"))
			}
			switch ev.Type {
			case "job.log":
				var l logLineJSON
				if err := json.Unmarshal([]byte(ev.Data), &l); err == nil {
					p.print(l)
				}
			case "job.finished":
				linger.Reset(followLinger)
			}
			if p.err != nil {
				return p.err
			}
		case <-linger.C:
			return p.err
		case <-ctx.Done():
			return p.err
		}
	}
}

// eventStream is an open GET /api/events.
type eventStream struct {
	body io.ReadCloser
	ch   chan events.Message
	err  error
}

// events opens /api/events?query with no overall timeout (the API
// client's would cut the stream).
func (c *apiClient) events(ctx context.Context, query string) (*eventStream, error) {
	resp, err := c.send(ctx, &http.Client{}, http.MethodGet, "/api/events?"+query, nil, false, "text/event-stream")
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return nil, answerError(resp.StatusCode, data)
	}
	s := &eventStream{body: resp.Body, ch: make(chan events.Message, 64)}
	go s.read()
	return s, nil
}

func (s *eventStream) read() {
	defer close(s.ch)
	d := events.NewDecoder(s.body)
	for {
		m, ok := d.Next()
		if !ok {
			s.err = d.Err()
			return
		}
		s.ch <- m
	}
}

func (s *eventStream) events() <-chan events.Message { return s.ch }

// Err is why the stream ended, once its channel is closed (nil: the
// daemon closed it).
func (s *eventStream) Err() error { return s.err }

func (s *eventStream) Close() error { return s.body.Close() }
