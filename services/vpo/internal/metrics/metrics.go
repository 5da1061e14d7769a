package metrics

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vpo-project/vpo/libs/jobs"
	"github.com/vpo-project/vpo/libs/store"
)

// Options configures New.
type Options struct {
	Version, Commit, GoVersion string
	// JobCounts reads the jobs by status and kind (the store), at scrape
	// time.
	JobCounts func(ctx context.Context) ([]store.JobCount, error)
	// Streams reports the open event streams and how many were dropped
	// as too slow (the events broker); nil leaves them out.
	Streams func() (open int, dropped int64)
	// JobLogDropped counts job log lines dropped (queue full); nil leaves
	// it out.
	JobLogDropped func() int64
}

// Metrics holds vpo's collectors. It implements jobs.Observer.
type Metrics struct {
	reg *prometheus.Registry

	claims    *prometheus.CounterVec
	runs      *prometheus.HistogramVec
	retries   *prometheus.CounterVec
	stalls    *prometheus.CounterVec
	leaseLost *prometheus.CounterVec

	scans        *prometheus.CounterVec
	scanFiles    *prometheus.CounterVec
	scanBytes    prometheus.Counter
	scanDuration prometheus.Histogram

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	routes       sync.Map // routeKey → *routeMetrics

	written *prometheus.CounterVec

	dbCheck    prometheus.Histogram
	dbFailures prometheus.Counter
	reloads    *prometheus.CounterVec
}

// New registers every collector on a new registry.
func New(opts Options) *Metrics {
	reg := prometheus.NewRegistry()
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m := &Metrics{reg: reg}
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "vpo_build_info", Help: "Always 1; the labels name the running build.",
		ConstLabels: prometheus.Labels{"version": opts.Version, "commit": opts.Commit, "goversion": opts.GoVersion},
	}, func() float64 { return 1 }))
	if opts.JobCounts != nil {
		f(&jobsCollector{counts: opts.JobCounts, desc: prometheus.NewDesc("vpo_jobs",
			"Jobs in the database by status and kind (all nodes' jobs).", []string{"status", "kind"}, nil)})
	}
	m.claims = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpo_job_claims_total", Help: "Jobs claimed by this daemon's workers, by kind.",
	}, []string{"kind"})
	m.runs = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "vpo_job_duration_seconds",
		Help:    "Time from claim to end of each run of a job, by kind and outcome (completed, failed, retried, cancelled, interrupted, waiting).",
		Buckets: []float64{0.01, 0.05, 0.25, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 12 * 3600},
	}, []string{"kind", "outcome"})
	m.retries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpo_job_retries_total", Help: "Failed attempts queued again for another attempt, by kind.",
	}, []string{"kind"})
	m.stalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpo_job_stalls_total", Help: "Runs cancelled for reporting no progress within their stall timeout, by kind.",
	}, []string{"kind"})
	m.leaseLost = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpo_job_lease_losses_total", Help: "Runs that lost their lease (their job was recovered elsewhere), by kind.",
	}, []string{"kind"})
	m.scans = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpo_scans_total", Help: "Scans finished, by whether they covered subdirectories.",
	}, []string{"recursive"})
	m.scanFiles = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpo_scan_files_total", Help: "Video files seen by scans, by what the scan found (new, changed, unchanged, missing).",
	}, []string{"result"})
	m.scanBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vpo_scan_bytes_total", Help: "Bytes in the new and changed video files scans found.",
	})
	m.scanDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "vpo_scan_duration_seconds", Help: "Duration of finished scans.",
		Buckets: []float64{0.01, 0.1, 0.5, 1, 5, 15, 60, 300, 1800},
	})
	m.written = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpo_written_bytes_total", Help: "Bytes of the new files that apply and transcode jobs wrote (remuxes and re-encodes; edits in place not counted), by job kind.",
	}, []string{"kind"})
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpo_http_requests_total", Help: "HTTP requests by route pattern, method and status code.",
	}, []string{"route", "method", "code"})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "vpo_http_request_duration_seconds", Help: "Time to answer HTTP requests, by route pattern (event streams: their whole life).",
		Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5},
	}, []string{"route"})
	m.dbCheck = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "vpo_database_check_duration_seconds", Help: "Duration of the database health checks.",
		Buckets: []float64{0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.25, 1, 5},
	})
	m.dbFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vpo_database_check_failures_total", Help: "Database health checks that failed.",
	})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpo_config_reloads_total", Help: "Configuration reloads (SIGHUP), by result (changed, unchanged, failed).",
	}, []string{"result"})
	for _, c := range []prometheus.Collector{m.claims, m.runs, m.retries, m.stalls, m.leaseLost, m.scans, m.scanFiles, m.scanBytes,
		m.scanDuration, m.written, m.httpRequests, m.httpDuration, m.dbCheck, m.dbFailures, m.reloads} {
		f(c)
	}
	if opts.Streams != nil {
		f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vpo_event_streams", Help: "Open /api/events streams.",
		}, func() float64 { n, _ := opts.Streams(); return float64(n) }))
		f(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "vpo_event_streams_dropped_total", Help: "Event streams dropped because their client did not read.",
		}, func() float64 { _, d := opts.Streams(); return float64(d) }))
	}
	if opts.JobLogDropped != nil {
		f(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "vpo_job_log_lines_dropped_total", Help: "Job log lines not kept because the writer fell behind.",
		}, func() float64 { return float64(opts.JobLogDropped()) }))
	}
	for _, r := range []string{"changed", "unchanged", "failed"} {
		m.reloads.WithLabelValues(r)
	}
	return m
}

// Handler serves the metrics in the Prometheus text format (or
// OpenMetrics when the scraper asks for it).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, EnableOpenMetrics: true})
}

// JobClaimed implements jobs.Observer.
func (m *Metrics) JobClaimed(kind string) { m.claims.WithLabelValues(kind).Inc() }

// JobEnded implements jobs.Observer.
func (m *Metrics) JobEnded(kind, outcome string, d time.Duration) {
	m.runs.WithLabelValues(kind, outcome).Observe(d.Seconds())
	if outcome == jobs.OutcomeRetried {
		m.retries.WithLabelValues(kind).Inc()
	}
}

// JobStalled implements jobs.Observer.
func (m *Metrics) JobStalled(kind string) { m.stalls.WithLabelValues(kind).Inc() }

// LeaseLost implements jobs.Observer.
func (m *Metrics) LeaseLost(kind string) { m.leaseLost.WithLabelValues(kind).Inc() }

// ScanFinished counts a finished scan.
func (m *Metrics) ScanFinished(recursive bool, newFiles, changed, unchanged, missing int, bytes int64, d time.Duration) {
	m.scanBytes.Add(float64(bytes))
	m.scans.WithLabelValues(strconv.FormatBool(recursive)).Inc()
	m.scanFiles.WithLabelValues("new").Add(float64(newFiles))
	m.scanFiles.WithLabelValues("changed").Add(float64(changed))
	m.scanFiles.WithLabelValues("unchanged").Add(float64(unchanged))
	m.scanFiles.WithLabelValues("missing").Add(float64(missing))
	m.scanDuration.Observe(d.Seconds())
}

// Written counts the bytes of a new file a job of kind wrote.
func (m *Metrics) Written(kind string, n int64) { m.written.WithLabelValues(kind).Add(float64(n)) }

// DatabaseChecked records one database health check.
func (m *Metrics) DatabaseChecked(d time.Duration, err error) {
	m.dbCheck.Observe(d.Seconds())
	if err != nil {
		m.dbFailures.Inc()
	}
}

// ConfigReloaded records a reload: result is changed, unchanged or failed.
func (m *Metrics) ConfigReloaded(result string) { m.reloads.WithLabelValues(result).Inc() }

// jobsCollector reads the job counts at scrape time.
type jobsCollector struct {
	counts func(ctx context.Context) ([]store.JobCount, error)
	desc   *prometheus.Desc
}

func (c *jobsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *jobsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.counts(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for _, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n.N), n.Status, n.Kind)
	}
}
