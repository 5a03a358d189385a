package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/parleyhq/parley/bench/voicebench"
	"github.com/parleyhq/parley/internal/cli"
)

func init() {
	register(&command{name: "bench voice", summary: "load the voice server (SFU) and a UDP reflector baseline; report CPU/packet, latency, loss", run: runBenchVoice})
}

func runBenchVoice(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench voice", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "", "load the server running on this data dir (default: start one as a child process)")
	rooms := fs.Int("rooms", 200, "rooms")
	size := fs.Int("size", 10, "participants per room")
	speakers := fs.Int("speakers", 2, "speakers per room (50 pps each)")
	duration := fs.Duration("duration", 20*time.Second, "measured window")
	warmup := fs.Duration("warmup", 2*time.Second, "load before the window")
	payload := fs.Int("payload", 120, "Opus payload bytes")
	mode := fs.String("mode", "aead_aes256_gcm_rtpsize", "transport encryption mode")
	reps := fs.Int("reps", 0, "alternate SFU and reflector runs this many times and report medians (default 1; with --webrtc-compare default 5, the least it takes)")
	webrtcShare := fs.Float64("webrtc-share", 0, "fraction F of participants that join the SFU as browsers do (ICE, DTLS-SRTP), spread evenly over speakers and listeners; 0 all-native, 1 all-WebRTC")
	webrtcCompare := fs.Bool("webrtc-compare", false, "run the same rooms all-native and all-WebRTC alternately (then the reflector), and report the ratio of the medians of server CPU per forwarded packet")
	noReflector := fs.Bool("no-reflector", false, "skip the reflector baseline")
	asJSON := fs.Bool("json", false, "print one JSON object")
	loops := fs.Int("loops", 1, "generator event loops (threads)")
	quantum := fs.Duration("quantum", 200*time.Microsecond, "generator event loop round: send what is due, drain what is ready, sleep")
	serverProcs := cli.String(fs, "server-gomaxprocs", "PARLEY_BENCH_SERVER_GOMAXPROCS", "", "GOMAXPROCS of the server and reflector child processes (default: Go's)")
	serverCPUs := fs.String("server-cpus", "", "pin the server and reflector children to these CPUs (taskset -c list)")
	genCPUs := fs.String("generator-cpus", "", "pin the generator to these CPUs (e.g. 1)")
	cpuProfile := fs.String("cpuprofile", "", "profile run: start the server in-process and write a CPU profile of the whole run (server and generator mixed) to FILE")
	verbose := fs.Bool("v", false, "log generator events to stderr")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if *webrtcCompare {
		repsSet := false
		fs.Visit(func(f *flag.Flag) { repsSet = repsSet || f.Name == "reps" })
		switch {
		case !repsSet:
			*reps = 5
		case *reps < 5:
			return cli.Usagef("bench voice: --webrtc-compare needs --reps of at least 5 (got %d)", *reps)
		}
		if *webrtcShare != 0 {
			return cli.Usagef("bench voice: --webrtc-compare runs shares 0 and 1 itself; drop --webrtc-share")
		}
	}
	log := slog.New(slog.DiscardHandler)
	if *verbose {
		log = newLogger("info", os.Stderr)
	}
	o := voicebench.Options{
		Config: voicebench.Config{Rooms: *rooms, Size: *size, Speakers: *speakers, Duration: *duration, Warmup: *warmup,
			PayloadSize: *payload, Mode: *mode, Loops: *loops, Quantum: *quantum, WebRTCShare: *webrtcShare,
			Progress: os.Stderr, Logger: log},
		Reps: *reps, ServerGOMAXPROCS: *serverProcs, CompareWebRTC: *webrtcCompare,
	}
	var pin []string
	if *genCPUs != "" {
		if err := pinSelf(*genCPUs); err != nil {
			return err
		}
		pin = append(pin, "generator on CPUs "+*genCPUs)
	}
	child := func(args ...string) func() *exec.Cmd {
		return func() *exec.Cmd {
			cmd := selfCommand(args...)
			if *serverCPUs != "" {
				cmd = exec.Command("taskset", append([]string{"-c", *serverCPUs, cmd.Path}, cmd.Args[1:]...)...)
				cmd.Env = selfCommand(args...).Env
			}
			if *serverProcs != "" {
				cmd.Env = append(cmd.Env, "GOMAXPROCS="+*serverProcs)
			}
			cmd.Stderr = os.Stderr
			return cmd
		}
	}
	if *serverCPUs != "" {
		pin = append(pin, "server and reflector on CPUs "+*serverCPUs)
	}
	o.Pinning = strings.Join(pin, "; ")

	switch {
	case *cpuProfile != "":
		tmp, err := os.MkdirTemp("", "parley-bench-voice-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		o.SFU = voicebench.InProcessServerSource(tmp, log)
		o.Note = "profile run: server in-process, CPU figures include the generator"
	case *dataDir != "":
		o.SFU = voicebench.AttachSource(*dataDir)
		o.Note = "server attached through " + *dataDir + "/ready.json"
	default:
		tmp, err := os.MkdirTemp("", "parley-bench-voice-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		o.SFU = voicebench.ChildServerSource(child("serve", "--data-dir", tmp, "--only", "voice",
			"--voice-addr", "127.0.0.1:0", "--voice-udp-addr", "127.0.0.1:0", "--voice-webrtc-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0",
			"--log-level", "warn"), tmp)
	}
	if !*noReflector {
		o.Reflector = voicebench.ChildReflectorSource(child("bench", "reflector"))
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	rep, err := voicebench.Run(ctx, o)
	if err != nil {
		return err
	}
	if *asJSON {
		return cli.PrintJSON(stdout, rep)
	}
	rep.WriteText(stdout)
	return nil
}

// selfCommand runs this binary as `parley args...` (under `go test`, the
// test binary through its TestMain hook).
func selfCommand(args ...string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	if os.Getenv("PARLEY_TEST_MAIN") == "1" {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), "PARLEY_TEST_ARGS="+strings.Join(args, " "))
		return cmd
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = os.Environ()
	return cmd
}

// pinSelf sets the CPU affinity of every thread of this process (new
// threads inherit it) to a taskset-style list such as "1" or "0,1".
func pinSelf(list string) error {
	var set unix.CPUSet
	for _, part := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return fmt.Errorf("--generator-cpus %q: %w", list, err)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				return fmt.Errorf("--generator-cpus %q: %w", list, err)
			}
		}
		for c := a; c <= b; c++ {
			set.Set(c)
		}
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil {
			return fmt.Errorf("pin thread %d: %w", tid, err)
		}
	}
	return nil
}
