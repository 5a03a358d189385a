package voicebench

import (
	"fmt"
	"io"
	"strings"
)

// WebRTCComparison is what Options.CompareWebRTC measured: the same rooms
// loaded all-native and all-WebRTC, alternately, and the server's CPU per
// forwarded packet of each (medians over the repetitions).
type WebRTCComparison struct {
	Reps                 int     `json:"reps"`
	NativeCPUUsPerPacket float64 `json:"native_cpu_us_per_forwarded_packet"`
	WebRTCCPUUsPerPacket float64 `json:"webrtc_cpu_us_per_forwarded_packet"`
	// Ratio is WebRTCCPUUsPerPacket / NativeCPUUsPerPacket: the ratio of
	// the medians. RepRatios are the per-repetition ratios (each pair ran
	// back to back), for the spread, and RepRatioMedian their median (less
	// moved by one repetition the host disturbed).
	Ratio          float64   `json:"ratio"`
	RepRatios      []float64 `json:"rep_ratios"`
	RepRatioMedian float64   `json:"rep_ratio_median"`
	// The WebRTC runs' other figures (medians; loss is the worst run's).
	WebRTCUserUsPerPacket float64   `json:"webrtc_user_us_per_forwarded_packet"`
	WebRTCSysUsPerPacket  float64   `json:"webrtc_sys_us_per_forwarded_packet"`
	NativeForwardedPPS    float64   `json:"native_forwarded_pps"`
	WebRTCForwardedPPS    float64   `json:"webrtc_forwarded_pps"`
	WebRTCServerCores     float64   `json:"webrtc_server_cpu_cores"`
	WebRTCLatencyUS       Quantiles `json:"webrtc_latency_us"`
	WebRTCLoss            float64   `json:"webrtc_loss"`
	// WebRTCRatioToReflector is ratio_to_reflector for the WebRTC runs
	// (the reflector's µs/packet over theirs, median of the repetitions).
	WebRTCRatioToReflector float64 `json:"webrtc_ratio_to_reflector,omitempty"`
	// The generator's cost: is a web participant as lean as a native one?
	NativeGeneratorUsPerPacket float64 `json:"native_generator_us_per_received_packet"`
	WebRTCGeneratorUsPerPacket float64 `json:"webrtc_generator_us_per_received_packet"`
	// WebRTCSetupS is how long the web participants took to join (median).
	WebRTCSetupS float64 `json:"webrtc_setup_s"`
}

// compareWebRTC sums up the native and WebRTC runs of a comparison.
func compareWebRTC(native, web, refl []*TargetResult) *WebRTCComparison {
	cpu := func(r *TargetResult) float64 { return r.CPUUsPerPacket }
	c := &WebRTCComparison{
		Reps:                       len(web),
		NativeCPUUsPerPacket:       medianOf(native, cpu),
		WebRTCCPUUsPerPacket:       medianOf(web, cpu),
		WebRTCUserUsPerPacket:      medianOf(web, func(r *TargetResult) float64 { return r.UserUsPerPacket }),
		WebRTCSysUsPerPacket:       medianOf(web, func(r *TargetResult) float64 { return r.SysUsPerPacket }),
		NativeForwardedPPS:         medianOf(native, func(r *TargetResult) float64 { return r.ForwardedPPS }),
		WebRTCForwardedPPS:         medianOf(web, func(r *TargetResult) float64 { return r.ForwardedPPS }),
		WebRTCServerCores:          medianOf(web, func(r *TargetResult) float64 { return r.ServerCores }),
		WebRTCLatencyUS:            medianQuantiles(web, func(r *TargetResult) Quantiles { return r.LatencyUS }),
		NativeGeneratorUsPerPacket: medianOf(native, func(r *TargetResult) float64 { return r.GeneratorUsPerPacket }),
		WebRTCGeneratorUsPerPacket: medianOf(web, func(r *TargetResult) float64 { return r.GeneratorUsPerPacket }),
		WebRTCSetupS:               medianOf(web, func(r *TargetResult) float64 { return r.SetupS }),
	}
	if c.NativeCPUUsPerPacket > 0 {
		c.Ratio = round(c.WebRTCCPUUsPerPacket/c.NativeCPUUsPerPacket, 3)
	}
	for i, w := range web {
		if i < len(native) && native[i].CPUUsPerPacket > 0 {
			c.RepRatios = append(c.RepRatios, round(w.CPUUsPerPacket/native[i].CPUUsPerPacket, 3))
		}
		c.WebRTCLoss = max(c.WebRTCLoss, w.Loss)
	}
	c.RepRatioMedian = round(median(c.RepRatios), 3)
	var toRefl []float64
	for i, rr := range refl {
		if i < len(web) && web[i].CPUUsPerPacket > 0 {
			toRefl = append(toRefl, rr.CPUUsPerPacket/web[i].CPUUsPerPacket)
		}
	}
	c.WebRTCRatioToReflector = round(median(toRefl), 3)
	return c
}

// Mix describes the SFU runs of a mixed load (Config.WebRTCShare > 0):
// its web participants and the deliveries by direction, summed over the
// repetitions.
type Mix struct {
	Share           float64     `json:"webrtc_share"`
	Participants    int         `json:"participants"`
	WebParticipants int         `json:"web_participants"`
	WebSpeakers     int         `json:"web_speakers"`
	Directions      []Direction `json:"directions"`
	SRTCP           uint64      `json:"srtcp_received"`
}

// mixOf sums up the SFU runs of a mixed load.
func mixOf(runs []*TargetResult) *Mix {
	if len(runs) == 0 {
		return nil
	}
	m := &Mix{Share: runs[0].WebRTCShare, Participants: runs[0].Participants,
		WebParticipants: runs[0].WebParticipants, WebSpeakers: runs[0].WebSpeakers}
	m.Directions = sumDirections(runs)
	for _, r := range runs {
		m.SRTCP += r.SRTCP
	}
	return m
}

// sumDirections adds up the runs' deliveries by direction.
func sumDirections(runs []*TargetResult) []Direction {
	var out []Direction
	for _, r := range runs {
		for _, d := range r.Directions {
			i := 0
			for i < len(out) && (out[i].From != d.From || out[i].To != d.To) {
				i++
			}
			if i == len(out) {
				out = append(out, Direction{From: d.From, To: d.To})
			}
			out[i].Expected += d.Expected
			out[i].Received += d.Received
			out[i].Lost += d.Lost
		}
	}
	return out
}

// delivered counts the directions that lost nothing, of those with
// deliveries expected.
func delivered(ds []Direction) (ok, of int) {
	for _, d := range ds {
		if d.Expected == 0 {
			continue
		}
		of++
		if d.Lost <= 0 && d.Received > 0 {
			ok++
		}
	}
	return ok, of
}

// writeText prints the comparison for people.
func (c *WebRTCComparison) writeText(w io.Writer) {
	rr := make([]string, len(c.RepRatios))
	for i, v := range c.RepRatios {
		rr[i] = fmt.Sprintf("%.3f", v)
	}
	fmt.Fprintf(w, "\nWebRTC vs native, same rooms, %d alternating repetitions (medians):\n", c.Reps)
	fmt.Fprintf(w, "  native %.3f µs CPU/packet at %.0f pps; webrtc %.3f µs CPU/packet (%.2f user + %.2f sys) at %.0f pps\n",
		c.NativeCPUUsPerPacket, c.NativeForwardedPPS, c.WebRTCCPUUsPerPacket, c.WebRTCUserUsPerPacket, c.WebRTCSysUsPerPacket, c.WebRTCForwardedPPS)
	fmt.Fprintf(w, "  ratio webrtc/native %.3f (per repetition: %s; their median %.3f)\n", c.Ratio, strings.Join(rr, " "), c.RepRatioMedian)
	fmt.Fprintf(w, "  webrtc latency p50 %.1f / p99 %.1f µs, loss %.6f, ratio to reflector %.3f, join %.1f s\n",
		c.WebRTCLatencyUS.P50, c.WebRTCLatencyUS.P99, c.WebRTCLoss, c.WebRTCRatioToReflector, c.WebRTCSetupS)
	fmt.Fprintf(w, "  generator µs per received packet: native %.3f, webrtc %.3f\n", c.NativeGeneratorUsPerPacket, c.WebRTCGeneratorUsPerPacket)
}

// writeText prints the mix for people.
func (m *Mix) writeText(w io.Writer) {
	fmt.Fprintf(w, "\nmixed load: webrtc share %.2f, %d of %d participants web-dialect (%d speakers); SRTCP received %d\n",
		m.Share, m.WebParticipants, m.Participants, m.WebSpeakers, m.SRTCP)
	for _, d := range m.Directions {
		fmt.Fprintf(w, "  %-6s → %-6s received %d of %d (lost %d)\n", d.From, d.To, d.Received, d.Expected, d.Lost)
	}
}
