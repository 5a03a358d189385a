package signaling

import "github.com/prometheus/client_golang/prometheus"

// metrics are the gateway's Prometheus collectors.
type metrics struct {
	connections prometheus.Gauge
	sessions    prometheus.Gauge
	closes      *prometheus.CounterVec
	messages    *prometheus.CounterVec
	dave        *prometheus.CounterVec
	admissions  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "parley", Subsystem: "voice_gateway", Name: "connections",
			Help: "Open voice gateway WebSocket connections."}),
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "parley", Subsystem: "voice_gateway", Name: "sessions",
			Help: "Authenticated voice sessions (connected or awaiting resume)."}),
		closes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "parley", Subsystem: "voice_gateway", Name: "closes_total",
			Help: "Connections closed by the server, by close code."}, []string{"code"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "parley", Subsystem: "voice_gateway", Name: "messages_total",
			Help: "Client messages received, by opcode."}, []string{"op"}),
		dave: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "parley", Subsystem: "voice_gateway", Name: "dave_events_total",
			Help: "DAVE inputs dropped or refused and transition timeouts, by reason."}, []string{"reason"}),
		admissions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "parley", Subsystem: "voice_gateway", Name: "admissions_refused_total",
			Help: "Identify and Resume refused: revoked or error (unreachable) by the control plane, not_serving while the node is out of its fleet."}, []string{"reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.connections, m.sessions, m.closes, m.messages, m.dave, m.admissions)
	}
	return m
}
