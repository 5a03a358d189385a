package mediabench

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// childEnv makes the test binary act as a bench child (the real binary
// re-executes `parley bench mediaproxy --role ...`).
const childEnv = "PARLEY_MEDIABENCH_TEST_CHILD"

func TestMain(m *testing.M) {
	if args := os.Getenv(childEnv); args != "" {
		o := ChildOptions{}
		for _, a := range strings.Split(args, "\x1f") {
			k, v, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
			switch k {
			case "role":
				o.Role = v
			case "data-dir":
				o.DataDir = v
			case "http":
				o.HTTP = v
			case "cache":
				o.Cache = v == "true"
			case "cpuprofile":
				o.CPUProfile = v
			}
		}
		if err := RunChild(context.Background(), o, os.Stdin, os.Stdout); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestRunSmoke runs one resize case and one cache-hit case end to end
// through child processes, briefly: it checks the harness, not speed.
func TestRunSmoke(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	prof := t.TempDir() + "/p"
	rep, err := Run(ctx, Options{
		Duration: 50 * time.Millisecond, Reps: 2, HitConns: 2, HitDepth: 2,
		Cases:      []string{"jpeg2560_to_jpeg500", "avatar128_webp"},
		CPUProfile: prof,
		Command: func(ctx context.Context, args ...string) *exec.Cmd {
			c := exec.CommandContext(ctx, exe, "-test.run=^$")
			c.Env = append(os.Environ(), childEnv+"="+strings.Join(args, "\x1f"))
			return c
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Resize) != 1 || rep.Resize[0].ProxyImages < 2 || rep.Resize[0].BareImages < 2 || rep.Resize[0].Ratio.Median <= 0 {
		t.Fatalf("resize: %+v", rep.Resize)
	}
	if len(rep.Hits) != 1 || len(rep.Hits[0].Servers) != 2 || rep.Hits[0].BodyBytes == 0 {
		t.Fatalf("hits: %+v", rep.Hits)
	}
	for _, s := range rep.Hits[0].Servers {
		if s.Responses == 0 || s.ServerCPUus.Median <= 0 {
			t.Fatalf("hit server %+v", s)
		}
	}
	if len(rep.PeakRSS) != 4 || rep.PeakRSS[0].HWMMiB <= 0 {
		t.Fatalf("rss %+v", rep.PeakRSS)
	}
	for _, n := range []string{"resize", "bare", "hit-fasthttp", "hit-nethttp"} {
		if fi, err := os.Stat(prof + "-" + n + ".pprof"); err != nil || fi.Size() == 0 {
			t.Fatalf("profile %s: %v", n, err)
		}
	}
	var buf bytes.Buffer
	rep.Text(&buf)
	if !strings.Contains(buf.String(), "jpeg2560_to_jpeg500") || !strings.Contains(buf.String(), "nethttp") {
		t.Fatalf("text:\n%s", buf.String())
	}
}
