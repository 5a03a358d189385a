package sfu

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Stats are the server's cumulative counters. Reader goroutines add to them
// once per batch; Prometheus reads them through CounterFuncs.
type Stats struct {
	PacketsIn  atomic.Uint64 // authenticated RTP packets received
	PacketsOut atomic.Uint64 // RTP packets forwarded
	BytesOut   atomic.Uint64
	Keepalives atomic.Uint64
	RTCP       atomic.Uint64
	// Retransmits counts datagrams resent for a browser's NACK.
	Retransmits atomic.Uint64
	// WebRTCUnrouted counts STUN and DTLS datagrams that reached no
	// browser's ICE agent (a wrong ufrag, an address no check came from).
	WebRTCUnrouted atomic.Uint64
	Drops          [numDropReasons]atomic.Uint64
	// ICEFailures and DTLSFailures count browsers whose handshake failed
	// at that stage.
	ICEFailures, DTLSFailures atomic.Uint64
}

// Snapshot is a plain copy of Stats.
type Snapshot struct {
	PacketsIn, PacketsOut, BytesOut, Keepalives, RTCP uint64
	Retransmits, WebRTCUnrouted                       uint64
	ICEFailures, DTLSFailures                         uint64
	Drops                                             map[string]uint64
}

// Snapshot copies the counters.
func (s *Stats) Snapshot() Snapshot {
	out := Snapshot{
		PacketsIn: s.PacketsIn.Load(), PacketsOut: s.PacketsOut.Load(), BytesOut: s.BytesOut.Load(),
		Keepalives: s.Keepalives.Load(), RTCP: s.RTCP.Load(), Retransmits: s.Retransmits.Load(),
		WebRTCUnrouted: s.WebRTCUnrouted.Load(), ICEFailures: s.ICEFailures.Load(), DTLSFailures: s.DTLSFailures.Load(),
		Drops: map[string]uint64{},
	}
	for r := DropReason(0); r < numDropReasons; r++ {
		if n := s.Drops[r].Load(); n > 0 {
			out.Drops[r.String()] = n
		}
	}
	return out
}

// localStats accumulates one reader batch's counts without atomics.
type localStats struct {
	in, out, bytes, keepalives, rtcp, retransmits uint64
	drops                                         [numDropReasons]uint64
}

func (l *localStats) flush(s *Stats) {
	if l.in != 0 {
		s.PacketsIn.Add(l.in)
	}
	if l.out != 0 {
		s.PacketsOut.Add(l.out)
		s.BytesOut.Add(l.bytes)
	}
	if l.keepalives != 0 {
		s.Keepalives.Add(l.keepalives)
	}
	if l.rtcp != 0 {
		s.RTCP.Add(l.rtcp)
	}
	if l.retransmits != 0 {
		s.Retransmits.Add(l.retransmits)
	}
	for i, n := range l.drops {
		if n != 0 {
			s.Drops[i].Add(n)
		}
	}
	*l = localStats{}
}

// metrics are the server's Prometheus collectors.
type metrics struct {
	rooms        prometheus.Gauge
	participants prometheus.Gauge
	latency      prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, st *Stats) *metrics {
	m := &metrics{
		rooms: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "parley", Subsystem: "sfu", Name: "rooms",
			Help: "Voice rooms with at least one participant."}),
		participants: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "parley", Subsystem: "sfu", Name: "participants",
			Help: "Participants across all rooms."}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "parley", Subsystem: "sfu", Name: "forwarding_latency_seconds",
			Help:    "Time from a datagram batch's read to the send of its forwarded copies.",
			Buckets: []float64{10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 50e-3}}),
	}
	if reg == nil {
		return m
	}
	counter := func(name, help string, v *atomic.Uint64, labels prometheus.Labels) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "parley", Subsystem: "sfu", Name: name,
			Help: help, ConstLabels: labels}, func() float64 { return float64(v.Load()) })
	}
	reg.MustRegister(m.rooms, m.participants, m.latency,
		counter("packets_in_total", "Authenticated RTP packets received.", &st.PacketsIn, nil),
		counter("packets_out_total", "RTP packets forwarded to receivers.", &st.PacketsOut, nil),
		counter("bytes_out_total", "Bytes of forwarded RTP datagrams.", &st.BytesOut, nil),
		counter("ignored_total", "Datagrams tolerated and ignored.", &st.Keepalives, prometheus.Labels{"kind": "keepalive"}),
		counter("ignored_total", "Datagrams tolerated and ignored.", &st.RTCP, prometheus.Labels{"kind": "rtcp"}),
		counter("retransmits_total", "Datagrams resent for a browser's NACK.", &st.Retransmits, nil),
		counter("webrtc_unrouted_total", "STUN and DTLS datagrams that reached no browser (unknown ufrag or address).", &st.WebRTCUnrouted, nil),
		counter("webrtc_handshake_failures_total", "Browsers whose ICE or DTLS handshake failed, by stage.", &st.ICEFailures, prometheus.Labels{"stage": "ice"}),
		counter("webrtc_handshake_failures_total", "Browsers whose ICE or DTLS handshake failed, by stage.", &st.DTLSFailures, prometheus.Labels{"stage": "dtls"}),
	)
	for r := DropReason(0); r < numDropReasons; r++ {
		reg.MustRegister(counter("drops_total", "Packets not forwarded, by reason (per receiver for receiver-side reasons).",
			&st.Drops[r], prometheus.Labels{"reason": r.String()}))
	}
	return m
}
