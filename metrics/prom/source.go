package prom

import (
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shardflow/shardflow/metrics"
)

// sourceMetrics are lease assignment's and the Kinesis source's series.
type sourceMetrics struct {
	acquired     *series[string, prometheus.Counter]
	groupWorkers prometheus.Gauge
	balance      prometheus.Gauge
	groupHeld    *prometheus.GaugeVec
	sourceErrors *series[apiCode, prometheus.Counter]

	groupMu   sync.Mutex
	groupSeen map[string]bool // workers with a lease_group_held series
}

type apiCode struct{ api, code string }

func (m *Metrics) initSource(counter func(string, string, ...string) *prometheus.CounterVec,
	gauge func(string, string, ...string) *prometheus.GaugeVec) {
	acq := counter("leases_acquired_total", "Shard leases this worker took, by how: free, handoff (named by the last owner after it drained), takeover (the owner's lease expired: a crash or pause).", "how")
	m.acquired = newSeries(labelLimit, overflowValue, strings.Clone, func(how string) prometheus.Counter {
		return acq.WithLabelValues(labelValue(how))
	})
	m.groupWorkers = gauge("lease_group_workers", "Live workers of the application, as this worker sees them.").WithLabelValues()
	m.balance = gauge("lease_balance_ratio", "Busiest worker over the mean (shards, or bytes/s with balance: throughput) in the current plan; 1 is perfect.").WithLabelValues()
	m.groupHeld = gauge("lease_group_held", "Readable shards each live worker (label member: its worker id) holds, as this worker sees them.", "member")
	errs := counter("source_errors_total", "Failed Kinesis calls of the source, by API and AWS error code.", "api", "code")
	m.sourceErrors = newSeries(labelLimit, apiCode{"other", overflowValue}, func(k apiCode) apiCode {
		return apiCode{strings.Clone(k.api), strings.Clone(k.code)}
	}, func(k apiCode) prometheus.Counter {
		return errs.WithLabelValues(labelValue(k.api), labelValue(k.code))
	})
	m.groupSeen = map[string]bool{}
}

// LeaseAcquired implements metrics.Hooks.
func (m *Metrics) LeaseAcquired(_, how string) { m.acquired.get(how).Inc() }

// LeaseGroup implements metrics.Hooks: one lease_group_held series per live
// worker; a worker that left loses its series.
func (m *Metrics) LeaseGroup(workers []metrics.WorkerLeases, balance float64) {
	m.groupWorkers.Set(float64(len(workers)))
	m.balance.Set(balance)
	m.groupMu.Lock()
	defer m.groupMu.Unlock()
	live := make(map[string]bool, len(workers))
	for _, w := range workers {
		if len(live) >= labelLimit {
			break
		}
		live[w.Worker] = true
		if !m.groupSeen[w.Worker] {
			m.groupSeen[strings.Clone(w.Worker)] = true
		}
		m.groupHeld.WithLabelValues(labelValue(w.Worker)).Set(float64(w.Held))
	}
	for w := range m.groupSeen {
		if !live[w] {
			m.groupHeld.DeleteLabelValues(labelValue(w))
			delete(m.groupSeen, w)
		}
	}
}

// SourceError implements metrics.Hooks.
func (m *Metrics) SourceError(api, code string) { m.sourceErrors.get(apiCode{api, code}).Inc() }
