package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// routeKey names one series of vpo_http_requests_total.
type routeKey struct {
	route, method string
	code          int
}

// routeMetrics are the series of one route, method and code, looked up
// once and kept: a request costs no label hashing.
type routeMetrics struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// methods are the request methods counted by name; others count as
// "other" (a client may send any token).
var methods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

// Observe records one request to route (a route pattern such as
// /api/jobs/{id}, or "unmatched"), answered with code after d.
func (m *Metrics) Observe(route, method string, code int, d time.Duration) {
	if !methods[method] {
		method = "other"
	}
	if code < 100 || code > 599 {
		code = 0
	}
	k := routeKey{route, method, code}
	v, ok := m.routes.Load(k)
	if !ok {
		v, _ = m.routes.LoadOrStore(k, &routeMetrics{
			requests: m.httpRequests.WithLabelValues(route, method, strconv.Itoa(code)),
			duration: m.httpDuration.WithLabelValues(route),
		})
	}
	rm := v.(*routeMetrics)
	rm.requests.Inc()
	rm.duration.Observe(d.Seconds())
}
