package voicebench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parleyhq/parley/internal/voicetoken"
)

// run is the generator's state while it loads one target.
type run struct {
	cfg     *Config
	t       *Target
	reflect bool
	// name labels the run ("sfu", "webrtc", "sfu-mixed", "reflector").
	name string
	// share is the fraction of web participants (0 behind the reflector;
	// see mixed).
	share    float64
	parts    []*participant
	speakers []*participant
	loops    []*loop

	// start is the pacer's time origin; [winStart, winEnd) is the
	// measured window in wall-clock ns, fixed before the first send.
	start            time.Time
	winStart, winEnd int64

	// stopSend ends sending; stopRx, set a little later, ends the loops.
	stopSend, stopRx atomic.Bool

	gwWG sync.WaitGroup // gateway reader goroutines

	// setupTime is how long every participant took to join.
	setupTime time.Duration

	// Local ports of the target's media socket and of the generator's.
	srvPorts, genPorts map[uint16]bool
}

// mixed reports whether the run has web participants: its loops then
// count deliveries by direction.
func (r *run) mixed() bool { return r.share > 0 }

// sample is the state of counters at one edge of the window.
type sample struct {
	at     time.Time
	cpu    time.Duration
	cpuErr error
	// user and sys split the target's CPU (clock-tick resolution for a
	// child process).
	user, sys time.Duration
	splitErr  error
	self      time.Duration
	ctr       Counters
	ctrErr    error
	// Kernel receive-buffer drops of the target's and the generator's
	// sockets.
	srvDrops, genDrops uint64
	dropsErr           error
}

func (r *run) sample(ctx context.Context) sample {
	s := sample{at: time.Now()}
	s.cpu, s.cpuErr = processCPU(r.t.PID)
	s.user, s.sys, s.splitErr = userSysCPU(r.t.PID)
	s.srvDrops, s.dropsErr = udpDrops(r.srvPorts)
	if s.dropsErr == nil {
		s.genDrops, s.dropsErr = udpDrops(r.genPorts)
	}
	s.self, _ = selfCPU()
	if r.t.Counters != nil {
		s.ctr, s.ctrErr = r.t.Counters(ctx)
	} else {
		s.ctrErr = errors.New("no counters")
	}
	return s
}

// runTarget sets up every participant against t (a share of them in the
// web dialect; none behind the reflector), offers the load through warmup,
// window and drain, and tears everything down.
func runTarget(ctx context.Context, cfg *Config, t *Target, share float64) (*TargetResult, error) {
	if t.Reflector {
		share = 0
	}
	r := &run{cfg: cfg, t: t, reflect: t.Reflector, name: runName(t, share), share: share}
	defer r.teardown()
	if err := r.setup(ctx); err != nil {
		return nil, err
	}

	// The window is fixed before any goroutine that reads it starts.
	r.start = time.Now()
	r.winStart = r.start.Add(cfg.Warmup).UnixNano()
	r.winEnd = r.winStart + int64(cfg.Duration)
	nsec := int(cfg.Duration/time.Second) + 1
	for _, l := range r.loops {
		l.secRecv = make([]atomic.Uint64, nsec)
		l.secExp = make([]atomic.Uint64, nsec)
	}
	var rxWG sync.WaitGroup
	rxErr := make(chan error, len(r.loops))
	for _, l := range r.loops {
		rxWG.Add(1)
		go func() {
			defer rxWG.Done()
			if err := l.run(); err != nil {
				rxErr <- err
			}
		}()
	}
	stopHB := make(chan struct{})
	var hbWG sync.WaitGroup
	if !r.reflect {
		hbWG.Add(1)
		go func() {
			defer hbWG.Done()
			r.heartbeats(stopHB)
		}()
	}

	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() { defer close(progressDone); r.progress(stopProgress) }()

	stopAll := func() {
		r.stopSend.Store(true)
		time.Sleep(50 * time.Millisecond) // last packets in flight
		r.stopRx.Store(true)
		rxWG.Wait()
		close(stopProgress)
		<-progressDone
		close(stopHB)
		hbWG.Wait()
	}
	wait := func(until int64) error {
		select {
		case <-time.After(time.Until(time.Unix(0, until))):
			return nil
		case err := <-rxErr:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := wait(r.winStart); err != nil {
		stopAll()
		return nil, err
	}
	s0 := r.sample(ctx)
	if err := wait(r.winEnd); err != nil {
		stopAll()
		return nil, err
	}
	s1 := r.sample(ctx)
	if err := wait(r.winEnd + int64(cfg.Drain)); err != nil {
		stopAll()
		return nil, err
	}
	stopAll()
	return r.result(s0, s1), nil
}

// setup joins every participant (SetupConcurrency at a time) and prepares
// the receive loops.
func (r *run) setup(ctx context.Context) error {
	cfg := r.cfg
	r.parts = make([]*participant, 0, cfg.participants())
	// Web participants are spread evenly over the speakers and, apart,
	// over the listeners, so that a mixed run has both kinds of each.
	var nSpeakers, nListeners int
	for room := 0; room < cfg.Rooms; room++ {
		var members [numKinds]uint64
		for i := 0; i < cfg.Size; i++ {
			p := &participant{idx: len(r.parts), room: room, speaker: i < cfg.Speakers}
			if p.speaker {
				p.webrtc = webRTCAt(nSpeakers, r.share)
				nSpeakers++
			} else {
				p.webrtc = webRTCAt(nListeners, r.share)
				nListeners++
			}
			members[p.kind()]++
			r.parts = append(r.parts, p)
			if p.speaker {
				r.speakers = append(r.speakers, p)
			}
		}
		for _, p := range r.parts[len(r.parts)-cfg.Size:] {
			p.peers = members
			p.peers[p.kind()]--
		}
	}
	// Spread the speakers evenly over the frame interval, in an order
	// that interleaves rooms, as independent clients would be.
	rand.Shuffle(len(r.speakers), func(i, j int) { r.speakers[i], r.speakers[j] = r.speakers[j], r.speakers[i] })
	for i, p := range r.speakers {
		p.phase = time.Duration(int64(FrameInterval) * int64(i) / int64(len(r.speakers)))
	}

	var signer *voicetoken.Signer
	dialer := &websocket.Dialer{
		TLSClientConfig:  &tls.Config{RootCAs: r.t.RootCAs, ClientSessionCache: tls.NewLRUClientSessionCache(64)},
		HandshakeTimeout: 30 * time.Second,
		ReadBufferSize:   2048,
		WriteBufferSize:  1024,
	}
	if !r.reflect {
		var err error
		if signer, err = voicetoken.NewSigner(r.t.TokenKey); err != nil {
			return err
		}
	}
	jctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	sem := make(chan struct{}, cfg.SetupConcurrency)
	var wg sync.WaitGroup
	var firstErr error
	var errOnce sync.Once
	t0 := time.Now()
	var joined atomic.Int64
	for _, p := range r.parts {
		sem <- struct{}{}
		if jctx.Err() != nil {
			<-sem
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			var err error
			if r.reflect {
				err = joinReflector(r.t, cfg.Mode, p)
			} else {
				err = joinSFU(jctx, r.t, cfg.Mode, signer, participantDialer(dialer, r.t.Gateway, p.idx), p)
				if err == nil {
					r.gwWG.Add(1)
					go func() { defer r.gwWG.Done(); p.gw.readLoop() }()
				}
			}
			if err != nil {
				errOnce.Do(func() { firstErr = err; cancel() })
				return
			}
			if n := joined.Add(1); cfg.Progress != nil && n%500 == 0 {
				fmt.Fprintf(cfg.Progress, "[%s] joined %d/%d participants (%.1fs)\n", r.name, n, len(r.parts), time.Since(t0).Seconds())
			}
		}()
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		return firstErr
	}
	r.setupTime = time.Since(t0)
	cfg.Logger.Info("participants joined", "target", r.name, "n", len(r.parts), "took", r.setupTime)
	if cfg.Progress != nil {
		fmt.Fprintf(cfg.Progress, "[%s] %d participants joined in %.1fs (target pid %d)\n", r.name, len(r.parts), r.setupTime.Seconds(), r.t.PID)
	}

	r.srvPorts, r.genPorts = map[uint16]bool{}, map[uint16]bool{}
	for _, p := range r.parts {
		r.srvPorts[p.serverPort] = true
		r.genPorts[p.sock.localPort()] = true
	}
	nl := min(cfg.Loops, len(r.parts))
	for range nl {
		r.loops = append(r.loops, newLoop(r))
	}
	for i, p := range r.parts {
		l := r.loops[i%nl]
		l.socks = append(l.socks, p)
	}
	for i, p := range r.speakers {
		l := r.loops[i%nl]
		l.speakers = append(l.speakers, p) // still in phase order
	}
	for i, l := range r.loops {
		if err := l.initIO(); err != nil {
			r.loops = r.loops[:i]
			return err
		}
	}
	return nil
}

// runName labels a run against t with share web participants.
func runName(t *Target, share float64) string {
	switch {
	case t.Reflector || share == 0:
		return t.Name
	case share == 1:
		return "webrtc"
	}
	return t.Name + "-mixed"
}

// heartbeats sends each participant's v8 heartbeat on its own phase, so
// the server never sees them all at once.
func (r *run) heartbeats(stop <-chan struct{}) {
	now := time.Now()
	for _, p := range r.parts {
		p.gw.nextHB = now.Add(time.Duration(rand.Int64N(int64(p.gw.interval))))
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case now = <-tick.C:
		}
		for _, p := range r.parts {
			g := p.gw
			if g.closed.Load() || now.Before(g.nextHB) {
				continue
			}
			g.nextHB = g.nextHB.Add(g.interval)
			_ = g.write(3, map[string]any{"t": now.UnixMilli(), "seq_ack": g.seq.Load()})
		}
	}
}

// progress prints one line per second.
func (r *run) progress(stop <-chan struct{}) {
	w := r.cfg.Progress
	if w == nil {
		<-stop
		return
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastAt := time.Now()
	var lastSent, lastRecv uint64
	lastCPU, _ := processCPU(r.t.PID)
	lastSelf, _ := selfCPU()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		now := time.Now()
		dt := now.Sub(lastAt).Seconds()
		var recv, sent uint64
		for _, l := range r.loops {
			recv += l.pubReceived.Load()
			sent += l.pubSent.Load()
		}
		cpu, _ := processCPU(r.t.PID)
		self, _ := selfCPU()
		phase := "warmup"
		switch ns := now.UnixNano(); {
		case ns >= r.winEnd:
			phase = "drain"
		case ns >= r.winStart:
			phase = "measure"
		}
		loss := "-"
		if exp, got := r.lossSoFar(now); exp > 0 {
			loss = fmt.Sprintf("%.4f%%", 100*(1-float64(got)/float64(exp)))
		}
		srv := fmt.Sprintf("server cpu %3.0f%%", 100*(cpu-lastCPU).Seconds()/dt)
		if r.t.InProcess() {
			srv = "server in-process"
		}
		fmt.Fprintf(w, "[%s] %5.1fs %-7s in %6.0f pps  out %7.0f pps  loss %s  %s  generator cpu %3.0f%%\n",
			r.name, now.Sub(r.start).Seconds(), phase, float64(sent-lastSent)/dt, float64(recv-lastRecv)/dt,
			loss, srv, 100*(self-lastSelf).Seconds()/dt)
		lastAt, lastSent, lastRecv, lastCPU, lastSelf = now, sent, recv, cpu, self
	}
}

// lossSoFar sums expected and received deliveries over the window's
// seconds that ended at least 250 ms ago, so packets in flight do not count
// as lost.
func (r *run) lossSoFar(now time.Time) (expected, received uint64) {
	for i := 0; r.winStart+int64(i+1)*int64(time.Second) <= r.winEnd; i++ {
		end := r.winStart + int64(i+1)*int64(time.Second)
		if end+int64(250*time.Millisecond) > now.UnixNano() {
			break
		}
		for _, l := range r.loops {
			expected += l.secExp[i].Load()
			received += l.secRecv[i].Load()
		}
	}
	return expected, received
}

// teardown leaves the gateway (close 1000), closes sockets and epolls.
func (r *run) teardown() {
	for _, l := range r.loops {
		l.closeIO()
	}
	for _, p := range r.parts {
		if p.gw != nil {
			msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bench done")
			_ = p.gw.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(2*time.Second))
			_ = p.gw.ws.Close()
		}
		if p.sock != nil {
			if r.reflect {
				// Leave, so that a later run's sockets (which may
				// reuse these ports) start from clean rooms.
				_ = p.sock.send(reflectorDatagram(leaveMagic, p.room, p.ssrc, p.idx))
			}
			p.sock.close()
		}
	}
	r.gwWG.Wait()
}
