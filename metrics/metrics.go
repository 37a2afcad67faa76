// Package metrics is what Tollgate tells Prometheus (GET /metrics): video
// jobs by provider, model and outcome, attempt latencies, provider errors
// by kind, circuit breakers, reconciliations by outcome, credits held and
// captured for videos, provider cost, and the ledger's batches and commit
// times, with Go's and the process's own. Its methods are safe for
// concurrent use and do nothing on a nil *Metrics, so a service built
// without metrics (tests, tools) needs no checks.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"tollgate"
)

// Metrics holds the collectors of one server.
type Metrics struct {
	reg *prometheus.Registry

	jobs            *prometheus.CounterVec
	failures        *prometheus.CounterVec
	attempts        *prometheus.HistogramVec
	providerErrors  *prometheus.CounterVec
	reconciliations *prometheus.CounterVec
	credits         *prometheus.CounterVec
	cost            *prometheus.CounterVec
	batchOps        prometheus.Histogram
	batchTime       prometheus.Histogram
}

// New returns metrics on a registry of their own, with Go's and the
// process's collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{reg: reg,
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tollgate_video_jobs_total",
			Help: "Video jobs by status reached: created (model only), completed, failed; provider is the one that ran the last attempt."},
			[]string{"provider", "model", "status"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tollgate_video_failures_total",
			Help: "Failed video jobs by error code (moderation_blocked, provider_outcome_unknown, no_provider...)."}, []string{"provider", "code"}),
		attempts: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tollgate_video_attempt_seconds",
			Help:    "How long an attempt at a provider took, from submit to its end, by outcome.",
			Buckets: []float64{5, 15, 30, 60, 120, 180, 300, 600, 1200, 3600}}, []string{"provider", "model", "outcome"}),
		providerErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tollgate_provider_errors_total",
			Help: "Failed calls to providers by step (submit, poll, fetch, reconcile) and kind (retryable, terminal, refused, unknown)."},
			[]string{"provider", "step", "kind"}),
		reconciliations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tollgate_reconciliations_total",
			Help: "Lookups of a submit whose answer was lost, by outcome: found, not_started, unsure (looked up again later), gave_up."},
			[]string{"provider", "outcome"}),
		credits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tollgate_video_credits_total",
			Help: "Credits of video jobs: held at create, captured and released when they end."}, []string{"state"}),
		cost: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tollgate_provider_cost_minor_total",
			Help: "What providers charge for completed videos by the catalog, in minor units of the currency (cents)."},
			[]string{"provider", "currency"}),
		batchOps: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tollgate_ledger_batch_operations",
			Help: "Operations committed per ledger transaction.", Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512}}),
		batchTime: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tollgate_ledger_batch_seconds",
			Help:    "How long a ledger batch's transaction took, its COMMIT included.",
			Buckets: []float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1}}),
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.jobs, m.failures, m.attempts, m.providerErrors, m.reconciliations, m.credits, m.cost, m.batchOps, m.batchTime)
	return m
}

// Handler serves the metrics in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Register adds collectors (gauges read at scrape time: circuit breakers,
// the ledger's counters). It panics on a name registered twice.
func (m *Metrics) Register(cs ...prometheus.Collector) {
	if m != nil {
		m.reg.MustRegister(cs...)
	}
}

func credits(c tollgate.Credits) float64 { return float64(c) / float64(tollgate.WholeCredits(1)) }

// JobCreated counts a job created for model, holding held.
func (m *Metrics) JobCreated(model string, held tollgate.Credits) {
	if m == nil {
		return
	}
	m.jobs.WithLabelValues("", model, "created").Inc()
	m.credits.WithLabelValues("held").Add(credits(held))
}

// JobCompleted counts a job completed at provider: what it captured of
// its hold (the rest released) and the provider's cost.
func (m *Metrics) JobCompleted(provider, model string, held, captured tollgate.Credits, cost tollgate.Money) {
	if m == nil {
		return
	}
	m.jobs.WithLabelValues(provider, model, "completed").Inc()
	m.credits.WithLabelValues("captured").Add(credits(captured))
	m.credits.WithLabelValues("released").Add(credits(held - captured))
	if cost.Currency != "" && cost.Amount > 0 {
		m.cost.WithLabelValues(provider, cost.Currency).Add(float64(cost.Amount))
	}
}

// JobFailed counts a job failed with code, its hold released.
func (m *Metrics) JobFailed(provider, model, code string, held tollgate.Credits) {
	if m == nil {
		return
	}
	m.jobs.WithLabelValues(provider, model, "failed").Inc()
	m.failures.WithLabelValues(provider, code).Inc()
	m.credits.WithLabelValues("released").Add(credits(held))
}

// AttemptEnded observes an attempt's latency by its outcome.
func (m *Metrics) AttemptEnded(provider, model, outcome string, took time.Duration) {
	if m == nil {
		return
	}
	m.attempts.WithLabelValues(provider, model, outcome).Observe(took.Seconds())
}

// ProviderError counts a failed call to provider at step, of kind.
func (m *Metrics) ProviderError(provider, step, kind string) {
	if m == nil {
		return
	}
	m.providerErrors.WithLabelValues(provider, step, kind).Inc()
}

// Reconciled counts a lookup of a lost submit by its outcome.
func (m *Metrics) Reconciled(provider, outcome string) {
	if m == nil {
		return
	}
	m.reconciliations.WithLabelValues(provider, outcome).Inc()
}

// Batch observes a ledger batch of ops operations that took d.
func (m *Metrics) Batch(ops int, d time.Duration) {
	if m == nil {
		return
	}
	m.batchOps.Observe(float64(ops))
	m.batchTime.Observe(d.Seconds())
}
