package voicebench

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets tests run this test binary as the reflector child process
// (VOICEBENCH_CHILD=reflector), the way `parley bench voice` runs
// `parley bench reflector`.
func TestMain(m *testing.M) {
	if os.Getenv("VOICEBENCH_CHILD") == "reflector" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		if err := ServeReflector(ctx, ReflectorConfig{}, os.Stdout); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func reflectorChild() *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "VOICEBENCH_CHILD=reflector")
	return cmd
}

func smokeOptions(t testing.TB, d time.Duration) Options {
	return Options{
		Config:    Config{Rooms: 2, Size: 3, Speakers: 1, Duration: d, Warmup: 500 * time.Millisecond},
		SFU:       InProcessServerSource(t.TempDir(), nil),
		Reflector: ChildReflectorSource(reflectorChild),
	}
}

func TestBenchSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var progress strings.Builder
	o := smokeOptions(t, time.Second)
	o.Config.Progress = &progress
	// Two repetitions: the second must not see the first's members.
	o.Reps = 2
	rep, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"forwarded_pps", "cpu_us_per_forwarded_packet", "latency_us", "loss", "reflector_pps",
		"ratio_to_reflector", "reflector_cpu_us_per_packet", "generator_cpu", "config", "machine", "checks", "runs"} {
		if _, ok := m[k]; !ok {
			t.Errorf("report has no %q: %s", k, b)
		}
	}
	lat, _ := m["latency_us"].(map[string]any)
	for _, k := range []string{"p50", "p99", "p999"} {
		if _, ok := lat[k]; !ok {
			t.Errorf("latency_us has no %q", k)
		}
	}
	if len(rep.Runs) != 4 {
		t.Fatalf("%d runs, want sfu and reflector twice", len(rep.Runs))
	}
	for _, r := range rep.Runs {
		if r.Received == 0 || r.Expected == 0 || r.Lost != 0 || r.Loss != 0 {
			t.Errorf("%s: sent %d expected %d received %d lost %d", r.Name, r.Sent, r.Expected, r.Received, r.Lost)
		}
		if r.DecryptErrors != 0 || r.Foreign != 0 || r.GatewayClosed != 0 {
			t.Errorf("%s: decrypt errors %d, foreign %d, gateway closed %d", r.Name, r.DecryptErrors, r.Foreign, r.GatewayClosed)
		}
		if r.Counters == nil || r.Counters.Out == 0 {
			t.Errorf("%s: no target counters (%s)", r.Name, r.CountersError)
		}
	}
	if rep.Loss != 0 || rep.ReflectorLoss != 0 {
		t.Errorf("loss %v, reflector loss %v", rep.Loss, rep.ReflectorLoss)
	}
	if !strings.Contains(progress.String(), "measure") {
		t.Errorf("no progress line during the window:\n%s", progress.String())
	}
	t.Logf("report: %s", b)
}

// BenchmarkVoiceSmoke runs the whole bench at 2 rooms × 3 × 1 speaker for
// one second per iteration and reports its figures as metrics.
func BenchmarkVoiceSmoke(b *testing.B) {
	ctx := context.Background()
	for b.Loop() {
		rep, err := Run(ctx, smokeOptions(b, time.Second))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(rep.ForwardedPPS, "fwd-pps")
		b.ReportMetric(rep.LatencyUS.P99, "p99-µs")
		b.ReportMetric(rep.Loss, "loss")
		b.ReportMetric(rep.ReflectorPPS, "reflector-pps")
	}
}
