package events_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/events"
)

// BenchmarkBurst: 100 streams open while 1,000 jobs are created, claimed
// and completed (3,000 events, written by the store's triggers). Every
// stream must get every event once, in order; it reports how long the
// last stream took to receive the last event after the burst was
// written, and how much the heap grew.
//
//	go test -run X -bench Burst -benchtime 1x ./services/vpo/internal/events/
func BenchmarkBurst(b *testing.B) {
	const clients, jobs = 100, 1000
	for range b.N {
		ctx := context.Background()
		st, err := store.Open(ctx, filepath.Join(b.TempDir(), "library.db"), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		br := events.New(st, events.Options{MaxStreams: clients})
		if err := br.Prime(ctx); err != nil {
			b.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		go func() { _ = br.Run(rctx) }()
		srv := httptest.NewServer(br.Handler())
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)

		var wg sync.WaitGroup
		errs := make(chan string, clients)
		got := make([]int, clients)
		for c := range clients {
			resp, err := http.Get(srv.URL)
			if err != nil {
				b.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer resp.Body.Close()
				sc := bufio.NewScanner(resp.Body)
				var last int64
				for sc.Scan() {
					line := sc.Text()
					if !strings.HasPrefix(line, "id: ") {
						continue
					}
					id, _ := strconv.ParseInt(line[4:], 10, 64)
					if last != 0 && id != last+1 {
						errs <- "event " + line[4:] + " after " + strconv.FormatInt(last, 10)
						return
					}
					last = id
					if got[c]++; got[c] == 3*jobs {
						return
					}
				}
			}()
		}
		b.ResetTimer()
		for range jobs {
			if _, err := st.CreateJob(ctx, store.NewJob{Kind: "k"}); err != nil {
				b.Fatal(err)
			}
		}
		for range jobs {
			j, ok, err := st.ClaimJob(ctx, "w", []string{"k"}, time.Minute, time.Now())
			if err != nil || !ok {
				b.Fatal(ok, err)
			}
			if err := st.CompleteJob(ctx, j.Lease(), nil, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
		written := time.Now()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			b.Fatalf("streams still reading 60 s after the burst: %v", got)
		}
		b.StopTimer()
		lag := time.Since(written)
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		close(errs)
		for e := range errs {
			b.Fatal(e)
		}
		for c, n := range got {
			if n != 3*jobs {
				b.Fatalf("stream %d got %d events, want %d", c, n, 3*jobs)
			}
		}
		b.ReportMetric(float64(lag.Milliseconds()), "ms-last-delivery")
		b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/(1<<20), "MiB-heap-growth")
		srv.Close()
		cancel()
		_ = st.Close()
	}
}
