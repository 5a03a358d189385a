package interop

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/testkit"
)

// hearing samples, every 100 ms, how many frames each receiver has from
// each sender, and records the longest stretch without a new frame per
// (receiver, sender) pair once the pair has been heard.
type hearing struct {
	mu      sync.Mutex
	logs    map[string]*frameLog // receiver -> its log
	senders map[string][]string  // receiver -> senders to watch
	last    map[[2]string]int
	since   map[[2]string]time.Time
	worst   map[[2]string]time.Duration
	worstAt map[[2]string]time.Time // when the worst silence began
	stop    chan struct{}
	done    chan struct{}
}

func newHearing() *hearing {
	h := &hearing{logs: map[string]*frameLog{}, senders: map[string][]string{}, last: map[[2]string]int{},
		since: map[[2]string]time.Time{}, worst: map[[2]string]time.Duration{}, worstAt: map[[2]string]time.Time{}, stop: make(chan struct{}), done: make(chan struct{})}
	go h.run()
	return h
}

// watch starts (or restarts) watching what receiver hears from senders.
func (h *hearing) watch(receiver string, log *frameLog, senders ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.logs[receiver] = log
	h.senders[receiver] = senders
	for _, s := range senders {
		k := [2]string{receiver, s}
		delete(h.since, k)
		h.last[k] = len(log.from(s))
	}
}

// unwatch stops watching pairs involving user.
func (h *hearing) unwatch(user string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.logs, user)
	delete(h.senders, user)
	for r, ss := range h.senders {
		var keep []string
		for _, s := range ss {
			if s != user {
				keep = append(keep, s)
			}
		}
		h.senders[r] = keep
	}
}

func (h *hearing) run() {
	defer close(h.done)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case now := <-t.C:
			h.mu.Lock()
			for r, ss := range h.senders {
				for _, s := range ss {
					k := [2]string{r, s}
					n := len(h.logs[r].from(s))
					if n > h.last[k] {
						h.last[k] = n
						h.since[k] = now
						continue
					}
					if at, ok := h.since[k]; ok && now.Sub(at) > h.worst[k] {
						h.worst[k] = now.Sub(at)
						h.worstAt[k] = at
					}
				}
			}
			h.mu.Unlock()
		}
	}
}

// check fails if any watched receiver went longer than max without a frame
// from a sender it had heard, or never heard one.
func (h *hearing) check(t *testing.T, what string, max time.Duration) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	for r, ss := range h.senders {
		for _, s := range ss {
			k := [2]string{r, s}
			if _, ok := h.since[k]; !ok {
				t.Errorf("%s: %s never heard %s", what, r, s)
			} else if h.worst[k] > max {
				t.Errorf("%s: %s did not hear %s for %v", what, r, s, h.worst[k])
			}
		}
	}
}

// notHeard lists the watched (receiver, sender) pairs without a new frame
// since after (a sample at or after it).
func (h *hearing) notHeard(after time.Time) [][2]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out [][2]string
	for r, ss := range h.senders {
		for _, s := range ss {
			k := [2]string{r, s}
			if at, ok := h.since[k]; !ok || at.Before(after) {
				out = append(out, k)
			}
		}
	}
	return out
}

// heardSince waits until every watched receiver heard every sender after
// the time after, and fails the test if one does not within timeout.
func (h *hearing) heardSince(t *testing.T, what string, after time.Time, timeout time.Duration) {
	t.Helper()
	if !testkit.Poll(timeout, func() bool { return len(h.notHeard(after)) == 0 }) {
		for _, k := range h.notHeard(after) {
			t.Errorf("%s: %s did not hear %s within %v", what, k[0], k[1], timeout)
		}
	}
}

// logWorst logs the longest silences seen, over 500 ms.
func (h *hearing) logWorst(t *testing.T, what string) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, d := range h.worst {
		if d > 500*time.Millisecond {
			t.Logf("%s: %s did not hear %s for %v at worst (from %s)", what, k[0], k[1], d, h.worstAt[k].UTC().Format("15:04:05.000"))
		}
	}
}

func (h *hearing) close() {
	close(h.stop)
	<-h.done
}

// streamGo sends numbered frames from g every 20 ms until stop closes.
func streamGo(g *goPeer, stop <-chan struct{}, wg *sync.WaitGroup) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			case <-t.C:
				_ = g.conn.SendOpus([]byte(fmt.Sprintf("go %s %d", g.user, n)))
			}
		}
	}()
}

func waitVersion(t *testing.T, env *voiceEnv, v uint16) {
	t.Helper()
	st, _ := env.srv.DAVEState(testGuild, testChannel)
	testkit.Eventually(t, 10*time.Second, func() bool {
		st, _ = env.srv.DAVEState(testGuild, testChannel)
		return st.ProtocolVersion == v && !st.Transition
	}, "room not at DAVE version %d: %+v", v, &st)
}

// TestDAVEDowngradeUpgrade: two Go clients and @discordjs/voice (DAVE) talk
// continuously; disgo (no DAVE) joins, which downgrades the room to
// transport encryption only, talks and is heard, and leaves, which
// upgrades the room to a new MLS group. No receiver stops hearing any
// sender across either transition.
func TestDAVEDowngradeUpgrade(t *testing.T) {
	env := startVoice(t, false)
	const u1, u2, uj, ux = "100000000000000301", "100000000000000302", "100000000000000303", "100000000000000309"
	g1 := env.joinGo(t, u1, "")
	g2 := env.joinGo(t, u2, "")
	dj := startDJSDAVE(t, env, uj, nil, []string{u1, u2, ux})
	dj.wait("ready", 20*time.Second)
	daveSynced(t, env, []*goPeer{g1, g2}, []*driver{dj})

	stop := make(chan struct{})
	var wg sync.WaitGroup
	streamGo(g1, stop, &wg)
	streamGo(g2, stop, &wg)
	dj.send("stream")
	defer func() { close(stop); wg.Wait() }()
	h := newHearing()
	defer h.close()
	h.watch(u1, g1.got, u2, uj)
	h.watch(u2, g2.got, u1, uj)
	h.watch(uj, dj.got, u1, u2)
	h.heardSince(t, "before the downgrade", time.Time{}, 5*time.Second)

	x := startDisgo(t, env, ux, syntheticFrames(50, 309), "")
	x.wait("ready", 20*time.Second)
	waitVersion(t, env, 0)
	// Every DAVE client executed the downgrade before disgo plays: one that
	// has not yet would drop disgo's frames as undecryptable.
	if !testkit.Poll(5*time.Second, func() bool {
		return g1.conn.DAVE().ProtocolVersion == 0 && g2.conn.DAVE().ProtocolVersion == 0
	}) {
		t.Fatalf("Go clients after downgrade: %+v, %+v", g1.conn.DAVE(), g2.conn.DAVE())
	}
	djsVersion := -1 // none
	if !testkit.Poll(5*time.Second, func() bool {
		djsVersion = -1
		if v := dj.daveState().Version; v != nil {
			djsVersion = *v
		}
		return djsVersion == 0
	}) {
		t.Fatalf("discord.js after downgrade: DAVE version %d", djsVersion)
	}
	x.send("play")
	x.wait("played", 15*time.Second)
	for _, p := range []struct {
		name string
		log  *frameLog
	}{{"go 1", g1.got}, {"go 2", g2.got}, {"discordjs", dj.got}} {
		if !p.log.waitAudio(ux, 40, 5*time.Second) {
			t.Errorf("%s did not hear disgo after the downgrade (%d frames)", p.name, len(p.log.from(ux)))
		}
	}
	for _, u := range []string{u1, u2, uj} {
		if n := len(x.got.from(u)); n == 0 {
			t.Errorf("disgo heard nothing from %s after the downgrade", u)
		}
	}
	x.send("leave")
	x.wait("left", 5*time.Second)
	waitVersion(t, env, 1)
	daveSynced(t, env, []*goPeer{g1, g2}, []*driver{dj})
	h.heardSince(t, "after the upgrade", time.Now(), 5*time.Second)
	h.logWorst(t, "across downgrade and upgrade")
	h.check(t, "across downgrade and upgrade", 1500*time.Millisecond)
	if st := g1.conn.DAVE(); st.Decrypt.Decrypted == 0 || st.Encrypt.Encrypted == 0 {
		t.Errorf("no end-to-end encrypted media after the upgrade: %+v", st)
	}
	dj.send("stop")
}

// TestDAVEChurn: 20 Go clients join and leave in quick succession while a
// Go client and two @discordjs/voice clients talk. No listener goes more
// than 1.5 s without a frame from any speaker (as across a downgrade and
// upgrade), and they end in the server's group, exactly the three of them
// (every churned client's close was read at once), with one epoch and
// privacy code.
func TestDAVEChurn(t *testing.T) {
	env := startVoice(t, false)
	const u1, ua, ub = "100000000000000401", "100000000000000402", "100000000000000403"
	g := env.joinGo(t, u1, "")
	da := startDJSDAVE(t, env, ua, nil, []string{u1, ub})
	db := startDJSDAVE(t, env, ub, nil, []string{u1, ua})
	da.wait("ready", 20*time.Second)
	db.wait("ready", 20*time.Second)
	daveSynced(t, env, []*goPeer{g}, []*driver{da, db})

	stop := make(chan struct{})
	var wg sync.WaitGroup
	streamGo(g, stop, &wg)
	da.send("stream")
	db.send("stream")
	defer func() { close(stop); wg.Wait() }()
	h := newHearing()
	defer h.close()
	h.watch(u1, g.got, ua, ub)
	h.watch(ua, da.got, u1, ub)
	h.watch(ub, db.got, u1, ua)
	h.heardSince(t, "before churn", time.Time{}, 5*time.Second)

	var live []*goPeer
	for i := range 20 {
		p := env.joinGo(t, fmt.Sprintf("1000000000000005%02d", i), "")
		live = append(live, p)
		if len(live) > 2 {
			_ = live[0].conn.Close()
			live = live[1:]
		}
	}
	for _, p := range live {
		_ = p.conn.Close()
	}
	// Every churned client closed with a close frame the server read, so
	// its session ended at once: the group is the three members again.
	daveSynced(t, env, []*goPeer{g}, []*driver{da, db})
	h.heardSince(t, "after churn", time.Now(), 5*time.Second)
	h.logWorst(t, "across churn")
	h.check(t, "across churn", 1500*time.Millisecond)
	drops := env.srv.SFU().Stats().Snapshot().Drops
	t.Logf("SFU drops %v; go client %+v", drops, g.conn.DAVE())
	if drops["not_e2ee"] != 0 {
		t.Errorf("%d transport-only frames sent into the E2EE room", drops["not_e2ee"])
	}
	if st := g.conn.DAVE(); st.Recoveries != 0 {
		t.Errorf("go client recovered (op 31) %d times", st.Recoveries)
	}
	da.send("stop")
	db.send("stop")
}
