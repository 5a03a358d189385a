package mediabench

import (
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// selfCPU is this process's user + system CPU time from getrusage
// (microsecond resolution, every thread including exited ones).
func selfCPU() time.Duration {
	u, s := selfUsage()
	return u + s
}

// selfUsage is selfCPU split into user and system time.
func selfUsage() (user, sys time.Duration) {
	u, s, _ := selfUsageFaults()
	return u, s
}

// selfUsageFaults adds the count of minor page faults so far.
func selfUsageFaults() (user, sys time.Duration, minflt int64) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano()), ru.Minflt
}

// procHWM returns VmHWM (peak resident set) of pid in KiB, from
// /proc/PID/status; 0 when unavailable.
func procHWM(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				return 0
			}
			n, _ := strconv.ParseInt(f[0], 10, 64)
			return n
		}
	}
	return 0
}

// Summary is the median and range of one figure over repetitions.
type Summary struct {
	Median float64   `json:"median"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
	Reps   []float64 `json:"reps"`
}

func summarize(xs []float64) Summary {
	if len(xs) == 0 {
		return Summary{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Summary{Median: m, Min: s[0], Max: s[len(s)-1], Reps: xs}
}

// Env describes the machine a report was measured on
// (shared/docs/performance.md §8.7).
type Env struct {
	CPUModel  string `json:"cpu_model"`
	NumCPU    int    `json:"num_cpu"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"go_version"`
	// ServerProcs is GOMAXPROCS of the proxy and bare-loop children.
	ServerProcs int `json:"server_gomaxprocs"`
	// GenProcs is GOMAXPROCS of the load generator during cache-hit phases.
	GenProcs int `json:"generator_gomaxprocs"`
	// LoadAvg is /proc/loadavg at the start of the run (other tenants).
	LoadAvg string `json:"loadavg_at_start"`
}

func hostEnv() Env {
	e := Env{NumCPU: runtime.NumCPU(), GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				e.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		e.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		e.LoadAvg = strings.Join(f[:min(3, len(f))], " ")
	}
	return e
}
