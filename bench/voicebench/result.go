package voicebench

import (
	"math"
)

// Quantiles of a latency distribution in µs.
type Quantiles struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	N    uint64  `json:"n"`
}

func quantilesUS(h *histogram) Quantiles {
	us := func(v float64) float64 { return round(v/1e3, 1) }
	return Quantiles{P50: us(h.quantile(0.5)), P90: us(h.quantile(0.9)), P99: us(h.quantile(0.99)),
		P999: us(h.quantile(0.999)), Max: us(float64(h.max)), N: h.n}
}

// TargetResult is what one run against one target measured over the window.
type TargetResult struct {
	Name      string `json:"name"`
	InProcess bool   `json:"in_process,omitempty"`
	// Participants and WindowS describe the run; OfferedPPS is what the
	// speakers were asked to send.
	Participants int     `json:"participants"`
	WindowS      float64 `json:"window_s"`
	OfferedPPS   float64 `json:"offered_pps"`
	// SentPPS is what the speakers sent in the window; InPPS and
	// ForwardedPPS come from the target's counters (ForwardedPPS falls back
	// to ReceivedPPS without counters).
	SentPPS      float64 `json:"sent_pps"`
	InPPS        float64 `json:"in_pps,omitempty"`
	ForwardedPPS float64 `json:"forwarded_pps"`
	ReceivedPPS  float64 `json:"received_pps"`
	// Loss accounting by send time (see the package doc).
	Sent             uint64  `json:"sent"`
	Expected         uint64  `json:"expected"`
	IntentionalDrops uint64  `json:"intentional_drops"`
	Received         uint64  `json:"received"`
	Lost             int64   `json:"lost"`
	Loss             float64 `json:"loss"`
	// Server (target) CPU over the window.
	ServerCPUS     float64 `json:"server_cpu_s"`
	ServerCores    float64 `json:"server_cpu_cores"`
	CPUUsPerPacket float64 `json:"cpu_us_per_forwarded_packet"`
	CPUSource      string  `json:"cpu_source"`
	// UserUsPerPacket and SysUsPerPacket split CPUUsPerPacket into user
	// and kernel time (on loopback the kernel time includes delivering
	// each datagram to the receiver's socket, which the sender pays for).
	UserUsPerPacket float64 `json:"user_us_per_forwarded_packet"`
	SysUsPerPacket  float64 `json:"sys_us_per_forwarded_packet"`
	// Generator CPU over the window (getrusage of this process).
	GeneratorCPUS        float64 `json:"generator_cpu_s"`
	GeneratorCores       float64 `json:"generator_cpu_cores"`
	GeneratorUsPerPacket float64 `json:"generator_cpu_us_per_received_packet"`
	// Latency from the embedded send time to the kernel receive timestamp
	// (LatencyUS) and to the receive loop (LatencyAppUS).
	LatencyUS    Quantiles `json:"latency_us"`
	LatencyAppUS Quantiles `json:"latency_app_us"`
	// Counters are the target's counter deltas over the window.
	Counters      *Counters `json:"counters,omitempty"`
	CountersError string    `json:"counters_error,omitempty"`
	// ServerSocketDrops and GeneratorSocketDrops are the kernel's receive
	// buffer overflows over the window (/proc/net/udp): datagrams lost
	// before the target or the generator could read them.
	ServerSocketDrops    uint64 `json:"server_socket_drops"`
	GeneratorSocketDrops uint64 `json:"generator_socket_drops"`
	// LateSends counts window sends more than 1 ms behind schedule (the
	// generator was starved of CPU).
	LateSends     uint64 `json:"late_sends_1ms"`
	SendErrors    uint64 `json:"send_errors"`
	DecryptErrors uint64 `json:"decrypt_errors"`
	Foreign       uint64 `json:"foreign_datagrams"`
	GatewayClosed int    `json:"gateway_closed"`
	// SetupS is how long every participant took to join.
	SetupS float64 `json:"setup_s"`
	// The web-dialect participants of the run (Config.WebRTCShare): the
	// share, how many there were and how many of them spoke.
	WebRTCShare     float64 `json:"webrtc_share,omitempty"`
	WebParticipants int     `json:"web_participants,omitempty"`
	WebSpeakers     int     `json:"web_speakers,omitempty"`
	// Directions are the window's deliveries by the sender's and the
	// receiver's kind (runs with web participants).
	Directions []Direction `json:"directions,omitempty"`
	// SRTCP counts the reports the web participants received over the
	// whole run (counted, not opened).
	SRTCP uint64 `json:"srtcp_received,omitempty"`
}

// Direction is the deliveries from one kind of participant to another
// ("native", "webrtc") in a run's window.
type Direction struct {
	From     string `json:"from"`
	To       string `json:"to"`
	Expected uint64 `json:"expected"`
	Received uint64 `json:"received"`
	Lost     int64  `json:"lost"`
}

// intentionalReasons are SFU drop reasons that are policy, not loss.
var intentionalReasons = []string{"silence", "server_mute", "server_deaf"}

func (r *run) result(s0, s1 sample) *TargetResult {
	win := s1.at.Sub(s0.at).Seconds()
	var st rxStats
	var sentWin, late, sendErr uint64
	var dirExp [numKinds][numKinds]uint64
	for _, l := range r.loops {
		sentWin += l.pubSentWin.Load()
		late += l.pubLate.Load()
		sendErr += l.pubSendErr.Load()
		st.received += l.st.received
		st.inWindow += l.st.inWindow
		st.decryptErr += l.st.decryptErr
		st.foreign += l.st.foreign
		st.srtcp += l.st.srtcp
		st.lat.merge(&l.st.lat)
		st.latApp.merge(&l.st.latApp)
		for i := range numKinds {
			for j := range numKinds {
				st.dirRecv[i][j] += l.st.dirRecv[i][j]
				dirExp[i][j] += l.dirExp[i][j]
			}
		}
	}
	res := &TargetResult{
		Name: r.name, InProcess: r.t.InProcess(), Participants: len(r.parts), WindowS: round(win, 3),
		OfferedPPS: r.cfg.offeredPPS(),
		Sent:       sentWin, Expected: sentWin * uint64(r.cfg.Size-1), Received: st.inWindow,
		LateSends: late, SendErrors: sendErr,
		DecryptErrors: st.decryptErr, Foreign: st.foreign,
		LatencyUS: quantilesUS(&st.lat), LatencyAppUS: quantilesUS(&st.latApp),
		SetupS: round(r.setupTime.Seconds(), 2),
	}
	if r.mixed() {
		res.WebRTCShare, res.SRTCP = r.share, st.srtcp
		for _, p := range r.parts {
			if p.webrtc {
				res.WebParticipants++
				if p.speaker {
					res.WebSpeakers++
				}
			}
		}
		for i := range numKinds {
			for j := range numKinds {
				if dirExp[i][j] > 0 || st.dirRecv[i][j] > 0 {
					res.Directions = append(res.Directions, Direction{From: kindNames[i], To: kindNames[j],
						Expected: dirExp[i][j], Received: st.dirRecv[i][j], Lost: int64(dirExp[i][j]) - int64(st.dirRecv[i][j])})
				}
			}
		}
	}
	if s0.dropsErr == nil && s1.dropsErr == nil {
		res.ServerSocketDrops = s1.srvDrops - s0.srvDrops
		res.GeneratorSocketDrops = s1.genDrops - s0.genDrops
	}
	dwin := r.cfg.Duration.Seconds()
	res.SentPPS = round(float64(res.Sent)/dwin, 1)
	res.ReceivedPPS = round(float64(res.Received)/dwin, 1)
	res.ForwardedPPS = res.ReceivedPPS
	forwarded := float64(res.Received)
	if s0.ctrErr == nil && s1.ctrErr == nil {
		d := s1.ctr.sub(s0.ctr)
		res.Counters = &d
		res.InPPS = round(float64(d.In)/win, 1)
		res.ForwardedPPS = round(float64(d.Out)/win, 1)
		forwarded = float64(d.Out)
		for _, k := range intentionalReasons {
			res.IntentionalDrops += d.Drops[k]
		}
	} else if s0.ctrErr != nil {
		res.CountersError = s0.ctrErr.Error()
	} else {
		res.CountersError = s1.ctrErr.Error()
	}
	exp := int64(res.Expected) - int64(res.IntentionalDrops)
	res.Lost = exp - int64(res.Received)
	if exp > 0 {
		res.Loss = round(float64(res.Lost)/float64(exp), 6)
	}
	if s0.cpuErr == nil && s1.cpuErr == nil {
		cpu := (s1.cpu - s0.cpu).Seconds()
		res.ServerCPUS = round(cpu, 4)
		res.ServerCores = round(cpu/win, 3)
		if forwarded > 0 {
			res.CPUUsPerPacket = round(cpu*1e6/forwarded, 3)
		}
		res.CPUSource = "proc (task schedstat)"
		if s0.splitErr == nil && s1.splitErr == nil && forwarded > 0 {
			u, k := (s1.user - s0.user).Seconds(), (s1.sys - s0.sys).Seconds()
			if u+k > 0 {
				// Scale the tick-resolution split to the precise total.
				res.UserUsPerPacket = round(res.CPUUsPerPacket*u/(u+k), 3)
				res.SysUsPerPacket = round(res.CPUUsPerPacket*k/(u+k), 3)
			}
		}
		if res.InProcess {
			res.CPUSource = "rusage_self (includes the generator)"
		}
	} else {
		res.CPUSource = "unavailable"
	}
	gen := (s1.self - s0.self).Seconds()
	res.GeneratorCPUS = round(gen, 4)
	res.GeneratorCores = round(gen/win, 3)
	if res.Received > 0 {
		res.GeneratorUsPerPacket = round(gen*1e6/float64(res.Received), 3)
	}
	for _, p := range r.parts {
		if p.gw != nil && p.gw.closed.Load() {
			res.GatewayClosed++
		}
	}
	return res
}

func round(v float64, digits int) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}
