package fleet

import (
	"github.com/prometheus/client_golang/prometheus"
)

// registryMetrics are a control plane's fleet collectors.
type registryMetrics struct {
	placements *prometheus.CounterVec
	latency    prometheus.Histogram
	lost       prometheus.Counter
	nodes      *prometheus.GaugeVec
}

func newRegistryMetrics(reg prometheus.Registerer) *registryMetrics {
	m := &registryMetrics{
		placements: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "parley", Subsystem: "fleet", Name: "placements_total",
			Help: "Voice channel placements: placed (new), kept (existing), replaced (its node gone or its region changed), moved (off a draining or lost node), no_node, error."},
			[]string{"result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "parley", Subsystem: "fleet", Name: "placement_seconds",
			Help:    "Time to place a voice channel (etcd transactions included).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		lost: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "parley", Subsystem: "fleet", Name: "lost_nodes_total",
			Help: "Voice nodes whose registration vanished without a clean leave (lease expired)."}),
		nodes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "parley", Subsystem: "fleet", Name: "nodes",
			Help: "Live voice nodes by region and state, as this control plane's watch sees them."}, []string{"region", "state"}),
	}
	if reg != nil {
		reg.MustRegister(m.placements, m.latency, m.lost, m.nodes)
	}
	return m
}

func (m *registryMetrics) setNodes(nodes map[string]record) {
	m.nodes.Reset()
	for _, n := range nodes {
		m.nodes.WithLabelValues(n.Region, string(n.State)).Inc()
	}
}

// memberMetrics are a voice node's registry collectors.
type memberMetrics struct {
	session  prometheus.Gauge
	sessions *prometheus.CounterVec
}

func newMemberMetrics(reg prometheus.Registerer) *memberMetrics {
	m := &memberMetrics{
		session: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "parley", Subsystem: "fleet", Name: "registry_session",
			Help: "1 while this voice node holds its registry session (registered, serving), else 0."}),
		sessions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "parley", Subsystem: "fleet", Name: "registry_session_events_total",
			Help: "Registry session events of this voice node: registered, lost, failed (a registration attempt)."}, []string{"event"}),
	}
	if reg != nil {
		reg.MustRegister(m.session, m.sessions)
	}
	return m
}
