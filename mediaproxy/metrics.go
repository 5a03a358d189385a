package mediaproxy

import (
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the proxy's Prometheus series.
type metrics struct {
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec
	processing prometheus.Histogram
	cacheHits  *prometheus.CounterVec
	hits       atomic.Int64
	misses     atomic.Int64
	coalesced  prometheus.Counter
	abandoned  prometheus.Counter
	fileBytes  prometheus.Counter

	// Label lookups hash the label values; the hot path uses counters
	// resolved once: byStatus is filled on first use of each code,
	// byTier up front.
	byStatus [600]atomic.Pointer[prometheus.Counter]
	byTier   [numTiers]prometheus.Counter
}

// Cache tiers (the "tier" label of parley_media_cache_hits_total).
type tier uint8

const (
	tierMemory tier = iota
	tierDisk
	tierETag
	numTiers
)

var tierNames = [numTiers]string{"memory", "disk", "etag"}

func newMetrics(pool *Pool, budget *byteBudget, stats *Stats, extra prometheus.Registerer) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_media_requests_total", Help: "Requests by HTTP status."}, []string{"status"})
	m.processing = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "parley_media_processing_seconds", Help: "Pipeline time per processed variant.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}})
	m.cacheHits = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_media_cache_hits_total", Help: "Cache hits by tier (memory, disk, etag)."}, []string{"tier"})
	m.coalesced = prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_media_coalesced_total", Help: "Misses that joined an identical in-flight job."})
	m.abandoned = prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_media_abandoned_jobs_total", Help: "Jobs cancelled because every client waiting for them went away."})
	m.fileBytes = prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_media_file_bytes_total", Help: "Bytes of file attachments (not images) answered, counted when each response starts."})
	cs := []prometheus.Collector{m.requests, m.processing, m.cacheHits, m.coalesced, m.abandoned, m.fileBytes,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "parley_media_queue_depth", Help: "Jobs waiting for a libvips worker."}, func() float64 { return float64(pool.QueueDepth()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "parley_media_workers_busy", Help: "Jobs holding a libvips worker."}, func() float64 { return float64(pool.Running()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "parley_media_body_bytes_in_flight", Help: "Bytes of bodies held in memory (uploads, fetched and attachment sources)."}, func() float64 { return float64(budget.InFlight()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "parley_media_body_budget_rejects_total", Help: "Requests refused (503) because the body budget was full."}, func() float64 { return float64(budget.rejects.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "parley_media_cache_hit_ratio", Help: "Cache hits / (hits + misses) since start."}, func() float64 {
			h, mi := m.hits.Load(), m.misses.Load()
			if h+mi == 0 {
				return 0
			}
			return float64(h) / float64(h+mi)
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "parley_media_probe_rejects_total", Help: "Sources refused by the header probe or limits, before decoding."}, func() float64 { return float64(stats.ProbeRejects.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "parley_media_decodes_total", Help: "Sources handed to libvips for decoding."}, func() float64 { return float64(stats.Decodes.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "parley_media_decode_errors_total", Help: "Sources libvips failed to decode."}, func() float64 { return float64(stats.DecodeErrors.Load()) }),
	}
	for t := range m.byTier {
		m.byTier[t] = m.cacheHits.WithLabelValues(tierNames[t])
	}
	for _, c := range cs {
		m.reg.MustRegister(c)
		if extra != nil {
			_ = extra.Register(c)
		}
	}
	return m
}

func (m *metrics) status(code int) {
	if code < 0 || code >= len(m.byStatus) {
		m.requests.WithLabelValues(strconv.Itoa(code)).Inc()
		return
	}
	p := m.byStatus[code].Load()
	if p == nil {
		c := m.requests.WithLabelValues(strconv.Itoa(code))
		p = &c
		m.byStatus[code].Store(p)
	}
	(*p).Inc()
}

func (m *metrics) hit(t tier) {
	m.hits.Add(1)
	m.byTier[t].Inc()
}
