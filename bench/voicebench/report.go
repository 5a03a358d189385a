package voicebench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
)

// Report is what `parley bench voice --json` prints.
type Report struct {
	// The SFU's figures (medians over repetitions).
	ForwardedPPS            float64   `json:"forwarded_pps"`
	CPUUsPerForwardedPacket float64   `json:"cpu_us_per_forwarded_packet"`
	UserUsPerPacket         float64   `json:"user_us_per_forwarded_packet"`
	SysUsPerPacket          float64   `json:"sys_us_per_forwarded_packet"`
	ServerCPUCores          float64   `json:"server_cpu_cores"`
	LatencyUS               Quantiles `json:"latency_us"`
	LatencyAppUS            Quantiles `json:"latency_app_us"`
	Loss                    float64   `json:"loss"`
	// The reflector's figures under the same load.
	ReflectorPPS            float64   `json:"reflector_pps"`
	ReflectorCPUUsPerPacket float64   `json:"reflector_cpu_us_per_packet"`
	ReflectorUserUsPerPkt   float64   `json:"reflector_user_us_per_packet"`
	ReflectorSysUsPerPkt    float64   `json:"reflector_sys_us_per_packet"`
	ReflectorLatencyUS      Quantiles `json:"reflector_latency_us"`
	ReflectorLoss           float64   `json:"reflector_loss"`
	// RatioToReflector compares packets forwarded per CPU-second (the
	// reflector's µs/packet over the SFU's), which is what "x the
	// reflector's packets/s" means at a load neither saturates;
	// PPSRatioToReflector is the plain ratio of forwarded packets/s.
	RatioToReflector    float64 `json:"ratio_to_reflector"`
	PPSRatioToReflector float64 `json:"pps_ratio_to_reflector"`
	// CPUUsOverReflector is the SFU's CPU per forwarded packet minus the
	// reflector's (median of per-repetition differences): what decrypting,
	// munging, re-encrypting and the per-receiver bookkeeping add to the
	// shared floor of batched UDP I/O, wake-ups and loopback delivery.
	CPUUsOverReflector float64 `json:"cpu_us_over_reflector"`
	// AddedLatencyUS is the SFU's latency minus the reflector's.
	AddedLatencyUS struct {
		P50 float64 `json:"p50"`
		P99 float64 `json:"p99"`
	} `json:"added_latency_us"`
	// Mix describes the web-dialect participants of a mixed load
	// (Config.WebRTCShare > 0), whose totals the SFU figures above are.
	Mix *Mix `json:"mix,omitempty"`
	// WebRTC compares the same rooms all-native (the SFU figures above)
	// and all-WebRTC (Options.CompareWebRTC).
	WebRTC       *WebRTCComparison `json:"webrtc_compare,omitempty"`
	GeneratorCPU GeneratorCPU      `json:"generator_cpu"`
	Config       ReportConfig      `json:"config"`
	Machine      Machine           `json:"machine"`
	Checks       []Check           `json:"checks"`
	Runs         []*TargetResult   `json:"runs"`
}

// GeneratorCPU is the load generator's own cost while it loaded the SFU
// and the reflector.
type GeneratorCPU struct {
	SFUCores             float64 `json:"sfu_run_cores"`
	SFUUsPerPacket       float64 `json:"sfu_run_us_per_received_packet"`
	ReflectorCores       float64 `json:"reflector_run_cores"`
	ReflectorUsPerPacket float64 `json:"reflector_run_us_per_received_packet"`
}

// ReportConfig is the configuration a report was measured with.
type ReportConfig struct {
	Config
	DurationS         float64 `json:"duration_s"`
	WarmupS           float64 `json:"warmup_s"`
	QuantumUS         float64 `json:"quantum_us"`
	Reps              int     `json:"reps"`
	Participants      int     `json:"participants"`
	OfferedPPS        float64 `json:"offered_pps"`
	ExpectedOutPPS    float64 `json:"expected_out_pps"`
	ServerInProcess   bool    `json:"server_in_process"`
	ServerGOMAXPROCS  string  `json:"server_gomaxprocs,omitempty"`
	GeneratorMaxProcs int     `json:"generator_gomaxprocs"`
	Pinning           string  `json:"pinning,omitempty"`
	Note              string  `json:"note,omitempty"`
}

// Machine describes where the report was measured.
type Machine struct {
	CPUModel  string `json:"cpu_model"`
	Cores     int    `json:"cores"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
}

// Check is one target from the issue, evaluated on this run.
type Check struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Target string  `json:"target"`
	Pass   bool    `json:"pass"`
}

func machineInfo() Machine {
	m := Machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// checks evaluates the targets (for 200 rooms × 10 × 2 speakers on
// a 2-core machine; reported for any configuration).
func (rep *Report) checks(haveReflector bool) {
	rep.Checks = []Check{
		{Name: "cpu_us_per_forwarded_packet", Value: rep.CPUUsPerForwardedPacket, Target: "<= 3",
			Pass: rep.CPUUsPerForwardedPacket > 0 && rep.CPUUsPerForwardedPacket <= 3},
		{Name: "latency_us.p99", Value: rep.LatencyUS.P99, Target: "< 1000", Pass: rep.LatencyUS.N > 0 && rep.LatencyUS.P99 < 1000},
		{Name: "loss", Value: rep.Loss, Target: "== 0", Pass: rep.Loss == 0},
	}
	if haveReflector {
		rep.Checks = append(rep.Checks, Check{Name: "ratio_to_reflector", Value: rep.RatioToReflector, Target: ">= 0.6",
			Pass: rep.RatioToReflector >= 0.6})
	}
	if m := rep.Mix; m != nil {
		ok, of := delivered(m.Directions)
		rep.Checks = append(rep.Checks, Check{Name: "directions_delivered", Value: float64(ok), Target: fmt.Sprintf("== %d", of),
			Pass: of > 0 && ok == of})
	}
	if c := rep.WebRTC; c != nil {
		// The WebRTC issue's target: a browser costs the server at most
		// 1.5x a native client per forwarded packet.
		rep.Checks = append(rep.Checks,
			Check{Name: "webrtc_cpu_ratio_to_native", Value: c.Ratio, Target: "<= 1.5", Pass: c.Ratio > 0 && c.Ratio <= 1.5},
			Check{Name: "webrtc_loss", Value: c.WebRTCLoss, Target: "== 0", Pass: c.WebRTCLoss == 0})
	}
}

// WriteText prints the report for people.
func (rep *Report) WriteText(w io.Writer) {
	c := rep.Config
	fmt.Fprintf(w, "\nvoice bench: %d rooms × %d participants × %d speakers, %s, %d B Opus, %.0f s window × %d rep(s)\n",
		c.Rooms, c.Size, c.Speakers, c.Mode, c.PayloadSize, c.DurationS, c.Reps)
	fmt.Fprintf(w, "machine: %s, %d cores, kernel %s, %s\n", rep.Machine.CPUModel, rep.Machine.Cores, rep.Machine.Kernel, rep.Machine.GoVersion)
	fmt.Fprintf(w, "offered %.0f pps in, %.0f pps out expected\n\n", c.OfferedPPS, c.ExpectedOutPPS)
	fmt.Fprintf(w, "%-10s %10s %8s %13s %7s %9s %9s %9s %9s %10s %9s\n", "run", "fwd pps", "µs/pkt", "(user+sys)", "cores",
		"p50 µs", "p99 µs", "p99.9 µs", "loss", "gen cores", "gen µs/pkt")
	for _, r := range rep.Runs {
		fmt.Fprintf(w, "%-10s %10.0f %8.3f %6.2f+%-6.2f %7.3f %9.1f %9.1f %9.1f %9.6f %10.3f %9.3f\n", r.Name, r.ForwardedPPS,
			r.CPUUsPerPacket, r.UserUsPerPacket, r.SysUsPerPacket, r.ServerCores, r.LatencyUS.P50, r.LatencyUS.P99, r.LatencyUS.P999,
			r.Loss, r.GeneratorCores, r.GeneratorUsPerPacket)
	}
	for _, r := range rep.Runs {
		if r.ServerSocketDrops+r.GeneratorSocketDrops+r.LateSends+r.SendErrors+r.DecryptErrors+r.Foreign+uint64(r.GatewayClosed) > 0 {
			fmt.Fprintf(w, "%-10s kernel drops: target socket %d, generator sockets %d; sends >1 ms late %d, send errors %d, decrypt errors %d, foreign %d, gateway closed %d\n",
				r.Name, r.ServerSocketDrops, r.GeneratorSocketDrops, r.LateSends, r.SendErrors, r.DecryptErrors, r.Foreign, r.GatewayClosed)
		}
	}
	sfu := "SFU"
	switch {
	case rep.Mix != nil && rep.Mix.Share == 1:
		sfu = "SFU (all WebRTC)"
	case rep.Mix != nil:
		sfu = "SFU (mixed)"
	case rep.WebRTC != nil:
		sfu = "SFU (native)"
	}
	fmt.Fprintf(w, "\n%s: %.0f pps forwarded, %.3f µs CPU/packet, latency p50 %.1f / p99 %.1f / p99.9 %.1f µs, loss %.6f\n",
		sfu, rep.ForwardedPPS, rep.CPUUsPerForwardedPacket, rep.LatencyUS.P50, rep.LatencyUS.P99, rep.LatencyUS.P999, rep.Loss)
	if rep.ReflectorPPS > 0 {
		fmt.Fprintf(w, "reflector: %.0f pps, %.3f µs CPU/packet, latency p50 %.1f / p99 %.1f µs\n",
			rep.ReflectorPPS, rep.ReflectorCPUUsPerPacket, rep.ReflectorLatencyUS.P50, rep.ReflectorLatencyUS.P99)
		fmt.Fprintf(w, "ratio to reflector: %.3f (packets per CPU-second), %.3f (packets/s); SFU adds %.3f µs CPU/packet over it\n",
			rep.RatioToReflector, rep.PPSRatioToReflector, rep.CPUUsOverReflector)
	}
	if rep.Mix != nil {
		rep.Mix.writeText(w)
	}
	if rep.WebRTC != nil {
		rep.WebRTC.writeText(w)
	}
	if rep.Mix != nil || rep.WebRTC != nil {
		fmt.Fprintln(w)
	}
	sort.SliceStable(rep.Checks, func(i, j int) bool { return rep.Checks[i].Name < rep.Checks[j].Name })
	for _, ch := range rep.Checks {
		mark := "PASS"
		if !ch.Pass {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "  %s %-28s %10.4g (target %s)\n", mark, ch.Name, ch.Value, ch.Target)
	}
	if c.Note != "" {
		fmt.Fprintf(w, "note: %s\n", c.Note)
	}
}
