package syncserver

import (
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Kinds of errors counted by hearth_sync_errors_total.
const (
	// errUpgrade: a connection refused before the WebSocket upgrade
	// (authentication, shutting down).
	errUpgrade = "upgrade"
	// errSession: an error message sent on a connection.
	errSession = "session"
	// errChange: a pushed change refused (per-change codes).
	errChange = "change"
	// errWrite: a backend write refused as a whole (POST /v1/write).
	errWrite = "write"
)

// metrics are one server's Prometheus metrics. Each server has its own
// registry rather than the process-wide default, so a process (or a test)
// can run several servers without their series colliding.
type metrics struct {
	reg *prometheus.Registry

	connected     prometheus.Gauge
	connections   prometheus.Counter
	pushes        prometheus.Counter
	pushedChanges prometheus.Counter
	pulls         prometheus.Counter
	unsentPulls   prometheus.Counter
	pulledChanges prometheus.Counter
	batchSize     prometheus.Histogram
	applySeconds  prometheus.Histogram
	fanoutSeconds prometheus.Histogram
	errors        *prometheus.CounterVec
	chunks        prometheus.Counter
	chunkRows     prometheus.Counter

	commits commitTimes
}

func newMetrics(s *Server) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	factory := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	m.connected = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "hearth_sync_connected_clients", Help: "WebSocket sync connections open now."})
	m.connections = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hearth_sync_connections_total", Help: "WebSocket sync connections accepted."})
	m.pushes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hearth_sync_pushes_total", Help: "Pushes applied (each one transaction)."})
	m.pushedChanges = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hearth_sync_pushed_changes_total", Help: "Changes received in applied pushes."})
	m.pulls = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hearth_sync_pulls_total", Help: "Log batches sent to clients (catch-up and live fan-out)."})
	m.unsentPulls = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hearth_sync_unsent_pulls_total", Help: "Log batches not sent to a caught-up client because it may read none of their entries (its cursor is told later: QuietCursorDelay)."})
	m.pulledChanges = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hearth_sync_pulled_changes_total", Help: "Log entries sent to clients."})
	m.batchSize = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "hearth_sync_push_batch_size", Help: "Changes per push.",
		Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000}})
	m.applySeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "hearth_sync_push_apply_seconds", Help: "Time to apply one push in the store (validate, merge, log, commit).",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12)})
	m.fanoutSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "hearth_sync_fanout_seconds", Help: "Time from a push's commit to its entries written to another client's connection.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12)})
	m.errors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hearth_sync_errors_total", Help: "Errors by kind (upgrade: refused before the WebSocket; session: error message sent; change: pushed change refused) and code."},
		[]string{"kind", "code"})
	m.chunks = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hearth_sync_snapshot_chunks_total", Help: "Snapshot chunks served (initial syncs)."})
	m.chunkRows = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hearth_sync_snapshot_rows_total", Help: "Rows served in snapshot chunks."})
	for _, c := range []prometheus.Collector{m.connected, m.connections, m.pushes, m.pushedChanges, m.pulls, m.unsentPulls, m.pulledChanges,
		m.batchSize, m.applySeconds, m.fanoutSeconds, m.errors, m.chunks, m.chunkRows} {
		factory(c)
	}
	// The head is read when scraped: it is the log's size too, since
	// positions are dense from 1.
	factory(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hearth_sync_log_head", Help: "Last position of the server log (the number of log entries)."},
		func() float64 { h, _ := s.head.get(); return float64(h) }))
	factory(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hearth_sync_schema_version", Help: "The app schema version the server runs."},
		func() float64 { return float64(s.info.Version) }))
	factory(collectors.NewGoCollector())
	factory(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// MetricsHandler serves the server's metrics in the Prometheus exposition
// format, to mount at e.g. /metrics.
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{Registry: s.metrics.reg})
}

// Registry is the server's metrics registry, for an embedding program
// that adds its own collectors or gathers them into another registry.
func (s *Server) Registry() *prometheus.Registry { return s.metrics.reg }

func (m *metrics) countError(kind, code string) { m.errors.WithLabelValues(kind, code).Inc() }

// commitTimes remembers when recent pushes committed, by log position,
// for the fan-out latency: a session streaming entries looks up when
// they were committed. Only the newest pushes are kept; entries older
// than that are a catch-up, not fan-out, and are not measured.
type commitTimes struct {
	mu sync.Mutex
	// spans are ordered by position: pushes commit in log order, and
	// the rare span recorded out of order is inserted in place.
	spans []commitSpan
}

// maxCommitSpans bounds the memory of commitTimes; at 1,000 pushes a
// second it covers the last few seconds, longer than live fan-out takes.
const maxCommitSpans = 8192

type commitSpan struct {
	first, last int64
	at          time.Time
}

func (c *commitTimes) add(first, last int64, at time.Time) {
	if first > last {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.spans) >= maxCommitSpans {
		c.spans = append(c.spans[:0:0], c.spans[len(c.spans)/2:]...)
	}
	i := len(c.spans)
	for i > 0 && c.spans[i-1].first > first {
		i--
	}
	c.spans = slices.Insert(c.spans, i, commitSpan{first: first, last: last, at: at})
}

// lookup returns the push holding pos.
func (c *commitTimes) lookup(pos int64) (commitSpan, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// The last span starting at or before pos.
	i := sort.Search(len(c.spans), func(k int) bool { return c.spans[k].first > pos }) - 1
	if i < 0 || pos > c.spans[i].last {
		return commitSpan{}, false
	}
	return c.spans[i], true
}
