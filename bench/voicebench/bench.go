package voicebench

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"time"
)

// Source starts (or attaches to) a target; stop releases it.
type Source func(ctx context.Context) (t *Target, stop func(), err error)

// Options configures Run.
type Options struct {
	Config Config
	// Reps alternates SFU and reflector runs this many times (default 1)
	// and reports medians (performance.md §8.1).
	Reps int
	// SFU is the server under test (required).
	SFU Source
	// Reflector is the baseline; nil skips it.
	Reflector Source
	// ServerGOMAXPROCS and Pinning are recorded in the report only.
	ServerGOMAXPROCS string
	Pinning          string
	Note             string
	// CompareWebRTC runs the SFU twice in each repetition, all-native and
	// then all-WebRTC on the same rooms, before the reflector: the report's
	// SFU figures are the native runs' and Report.WebRTC compares the two
	// (Config.WebRTCShare must be 0).
	CompareWebRTC bool
}

// Run loads the SFU, then the reflector, Reps times, and reports.
func Run(ctx context.Context, o Options) (*Report, error) {
	cfg := o.Config.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if o.SFU == nil {
		return nil, fmt.Errorf("%w: no SFU source", ErrConfig)
	}
	if o.CompareWebRTC && cfg.WebRTCShare != 0 {
		return nil, fmt.Errorf("%w: a WebRTC comparison runs share 0 against 1; leave WebRTCShare at 0", ErrConfig)
	}
	if o.Reps <= 0 {
		o.Reps = 1
	}
	sfu, stopSFU, err := o.SFU(ctx)
	if err != nil {
		return nil, err
	}
	defer stopSFU()
	var refl *Target
	if o.Reflector != nil {
		var stop func()
		if refl, stop, err = o.Reflector(ctx); err != nil {
			return nil, err
		}
		defer stop()
	}
	rep := &Report{Machine: machineInfo()}
	var sfuRuns, webRuns, reflRuns []*TargetResult
	// one runs a target and files its result; a second's pause separates
	// runs.
	one := func(i int, t *Target, share float64, into *[]*TargetResult) error {
		if len(rep.Runs) > 0 {
			if err := pause(ctx, time.Second); err != nil {
				return err
			}
		}
		res, err := runTarget(ctx, &cfg, t, share)
		if err != nil {
			return fmt.Errorf("%s run %d: %w", runName(t, share), i+1, err)
		}
		*into = append(*into, res)
		rep.Runs = append(rep.Runs, res)
		return nil
	}
	for i := 0; i < o.Reps; i++ {
		if err := one(i, sfu, cfg.WebRTCShare, &sfuRuns); err != nil {
			return nil, err
		}
		if o.CompareWebRTC {
			if err := one(i, sfu, 1, &webRuns); err != nil {
				return nil, err
			}
		}
		if refl != nil {
			if err := one(i, refl, 0, &reflRuns); err != nil {
				return nil, err
			}
		}
	}

	rep.ForwardedPPS = medianOf(sfuRuns, func(r *TargetResult) float64 { return r.ForwardedPPS })
	rep.CPUUsPerForwardedPacket = medianOf(sfuRuns, func(r *TargetResult) float64 { return r.CPUUsPerPacket })
	rep.UserUsPerPacket = medianOf(sfuRuns, func(r *TargetResult) float64 { return r.UserUsPerPacket })
	rep.SysUsPerPacket = medianOf(sfuRuns, func(r *TargetResult) float64 { return r.SysUsPerPacket })
	rep.ServerCPUCores = medianOf(sfuRuns, func(r *TargetResult) float64 { return r.ServerCores })
	rep.LatencyUS = medianQuantiles(sfuRuns, func(r *TargetResult) Quantiles { return r.LatencyUS })
	rep.LatencyAppUS = medianQuantiles(sfuRuns, func(r *TargetResult) Quantiles { return r.LatencyAppUS })
	// Loss is the worst run's: one lossy run is a failure.
	for _, r := range sfuRuns {
		rep.Loss = max(rep.Loss, r.Loss)
	}
	rep.GeneratorCPU.SFUCores = medianOf(sfuRuns, func(r *TargetResult) float64 { return r.GeneratorCores })
	rep.GeneratorCPU.SFUUsPerPacket = medianOf(sfuRuns, func(r *TargetResult) float64 { return r.GeneratorUsPerPacket })
	if len(reflRuns) > 0 {
		rep.ReflectorPPS = medianOf(reflRuns, func(r *TargetResult) float64 { return r.ForwardedPPS })
		rep.ReflectorCPUUsPerPacket = medianOf(reflRuns, func(r *TargetResult) float64 { return r.CPUUsPerPacket })
		rep.ReflectorUserUsPerPkt = medianOf(reflRuns, func(r *TargetResult) float64 { return r.UserUsPerPacket })
		rep.ReflectorSysUsPerPkt = medianOf(reflRuns, func(r *TargetResult) float64 { return r.SysUsPerPacket })
		rep.ReflectorLatencyUS = medianQuantiles(reflRuns, func(r *TargetResult) Quantiles { return r.LatencyUS })
		for _, r := range reflRuns {
			rep.ReflectorLoss = max(rep.ReflectorLoss, r.Loss)
		}
		// Per-repetition ratios, then their median (each pair ran
		// back to back under similar host noise).
		ratios := make([]float64, 0, len(reflRuns))
		ppsRatios := make([]float64, 0, len(reflRuns))
		for i, rr := range reflRuns {
			sr := sfuRuns[i]
			if sr.CPUUsPerPacket > 0 {
				ratios = append(ratios, rr.CPUUsPerPacket/sr.CPUUsPerPacket)
			}
			if rr.ForwardedPPS > 0 {
				ppsRatios = append(ppsRatios, sr.ForwardedPPS/rr.ForwardedPPS)
			}
		}
		rep.RatioToReflector = round(median(ratios), 3)
		over := make([]float64, 0, len(reflRuns))
		for i, rr := range reflRuns {
			if sfuRuns[i].CPUUsPerPacket > 0 && rr.CPUUsPerPacket > 0 {
				over = append(over, sfuRuns[i].CPUUsPerPacket-rr.CPUUsPerPacket)
			}
		}
		rep.CPUUsOverReflector = round(median(over), 3)
		rep.PPSRatioToReflector = round(median(ppsRatios), 3)
		rep.AddedLatencyUS.P50 = round(rep.LatencyUS.P50-rep.ReflectorLatencyUS.P50, 1)
		rep.AddedLatencyUS.P99 = round(rep.LatencyUS.P99-rep.ReflectorLatencyUS.P99, 1)
		rep.GeneratorCPU.ReflectorCores = medianOf(reflRuns, func(r *TargetResult) float64 { return r.GeneratorCores })
		rep.GeneratorCPU.ReflectorUsPerPacket = medianOf(reflRuns, func(r *TargetResult) float64 { return r.GeneratorUsPerPacket })
	}
	rep.Config = ReportConfig{
		Config: cfg, DurationS: cfg.Duration.Seconds(), WarmupS: cfg.Warmup.Seconds(),
		QuantumUS: float64(cfg.Quantum.Microseconds()), Reps: o.Reps,
		Participants: cfg.participants(), OfferedPPS: cfg.offeredPPS(),
		ExpectedOutPPS:  cfg.offeredPPS() * float64(cfg.Size-1),
		ServerInProcess: sfu.InProcess(), ServerGOMAXPROCS: o.ServerGOMAXPROCS,
		GeneratorMaxProcs: runtime.GOMAXPROCS(0), Pinning: o.Pinning, Note: o.Note,
	}
	if cfg.WebRTCShare > 0 {
		rep.Mix = mixOf(sfuRuns)
	}
	if o.CompareWebRTC {
		rep.WebRTC = compareWebRTC(sfuRuns, webRuns, reflRuns)
	}
	rep.checks(len(reflRuns) > 0)
	return rep, nil
}

// medianOf is the median of f over rs, rounded to 3 digits.
func medianOf(rs []*TargetResult, f func(*TargetResult) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	return round(median(v), 3)
}

// medianQuantiles is the median of each quantile of f over rs.
func medianQuantiles(rs []*TargetResult, f func(*TargetResult) Quantiles) Quantiles {
	return Quantiles{
		P50:  medianOf(rs, func(r *TargetResult) float64 { return f(r).P50 }),
		P90:  medianOf(rs, func(r *TargetResult) float64 { return f(r).P90 }),
		P99:  medianOf(rs, func(r *TargetResult) float64 { return f(r).P99 }),
		P999: medianOf(rs, func(r *TargetResult) float64 { return f(r).P999 }),
		Max:  medianOf(rs, func(r *TargetResult) float64 { return f(r).Max }),
		N:    uint64(medianOf(rs, func(r *TargetResult) float64 { return float64(f(r).N) })),
	}
}

func pause(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
