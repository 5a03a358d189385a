package interop

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/e2ee/dave"
	"github.com/parleyhq/parley/internal/testkit"
)

// streamNumbers returns the frame numbers (the last field of "djs <user>
// <n>" / "go <user> <n>") in frames.
func streamNumbers(frames [][]byte) []int {
	var out []int
	for _, f := range frames {
		fs := strings.Fields(string(f))
		if len(fs) != 3 {
			continue
		}
		if n, err := strconv.Atoi(fs[2]); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// lostBetween counts the numbers in (lo, hi] that are not in ns.
func lostBetween(ns []int, lo, hi int) int {
	seen := map[int]bool{}
	for _, n := range ns {
		if n > lo && n <= hi {
			seen[n] = true
		}
	}
	return hi - lo - len(seen)
}

func maxNumber(ns []int) int {
	m := -1
	for _, n := range ns {
		m = max(m, n)
	}
	return m
}

// TestDAVETransitionLoss measures the frames a Go receiver loses per DAVE
// transition: a discord.js client (davey, which switches its sender key
// when it processes a commit, before the receivers may have) and two Go
// clients talk steadily while Go clients join and leave one after another,
// each join and leave a commit and a transition. The receiver counts, per
// sender, the stream numbers it never got (undecryptable or lost) between
// the churn's start and end, and logs them per transition. Target 0.
//
// On loopback every client processes a commit within a millisecond or two
// of the others, so the receiver is made busy for 60 ms (3 frames) at each
// membership event, as a loaded machine or application would: it then
// processes each commit after davey has switched its key.
//
//	PARLEY_INTEROP=1 go test -race -count=1 -run TestDAVETransitionLoss -v ./interop/
func TestDAVETransitionLoss(t *testing.T) {
	env := startVoice(t, false)
	const ur, u1, u2, uj = "100000000000000601", "100000000000000602", "100000000000000603", "100000000000000604"
	r := env.joinGo(t, ur, "")
	g1 := env.joinGo(t, u1, "")
	g2 := env.joinGo(t, u2, "")
	dj := startDJSDAVE(t, env, uj, nil, []string{ur, u1, u2})
	dj.wait("ready", 20*time.Second)
	daveSynced(t, env, []*goPeer{r, g1, g2}, []*driver{dj})

	stop := make(chan struct{})
	var wg sync.WaitGroup
	streamGo(g1, stop, &wg)
	streamGo(g2, stop, &wg)
	dj.send("stream")
	defer func() { close(stop); wg.Wait() }()
	senders := []string{uj, u1, u2}
	for _, s := range senders {
		if !testkit.Poll(5*time.Second, func() bool { return len(r.got.from(s)) > 10 }) {
			t.Fatalf("receiver does not hear %s", s)
		}
	}

	// synced waits until the server's group has n members with no
	// transition or proposal pending and the receiver is at its epoch.
	synced := func(n int) {
		t.Helper()
		testkit.Eventually(t, 10*time.Second, func() bool {
			st, _ := env.srv.DAVEState(testGuild, testChannel)
			rs := r.conn.DAVE()
			return st.Established && !st.Transition && st.Proposals == 0 && len(st.GroupUsers) == n &&
				rs.Epoch == st.Epoch && rs.Pending == 0
		}, "group of %d not settled", n)
	}
	lo := map[string]int{}
	for _, s := range senders {
		lo[s] = maxNumber(streamNumbers(r.got.from(s)))
	}
	r.busy.Store(int64(60 * time.Millisecond))
	before := r.conn.DAVE()
	// talk waits until the receiver got 5 more frames from every sender,
	// so that frames flow across each transition.
	talk := func() {
		t.Helper()
		for _, s := range senders {
			n := maxNumber(streamNumbers(r.got.from(s)))
			testkit.Eventually(t, 5*time.Second, func() bool { return maxNumber(streamNumbers(r.got.from(s))) >= n+5 },
				"receiver stopped hearing %s", s)
		}
	}
	const churn = 15
	for i := range churn {
		p := env.joinGo(t, fmt.Sprintf("1000000000000007%02d", i), "")
		synced(5)
		talk()
		_ = p.conn.Close()
		synced(4)
		talk()
	}
	after := r.conn.DAVE()
	transitions := after.Transitions - before.Transitions
	// Frames sent up to now are counted: wait until each sender's stream
	// went 10 frames past its number at the end of the churn.
	hi := map[string]int{}
	for _, s := range senders {
		hi[s] = maxNumber(streamNumbers(r.got.from(s)))
		if !testkit.Poll(5*time.Second, func() bool { return maxNumber(streamNumbers(r.got.from(s))) > hi[s]+10 }) {
			t.Fatalf("receiver stopped hearing %s", s)
		}
	}
	total := 0
	for _, s := range senders {
		lost := lostBetween(streamNumbers(r.got.from(s)), lo[s], hi[s])
		total += lost
		kind := "go"
		if s == uj {
			kind = "discordjs+davey"
		}
		t.Logf("sender %s (%s): %d of %d frames lost over %d transitions (%.2f per transition)",
			s, kind, lost, hi[s]-lo[s], transitions, float64(lost)/float64(max(transitions, 1)))
	}
	t.Logf("receiver DAVE state: %+v", after)
	t.Logf("receiver: %.2f decryption attempts per decrypted frame over the churn (every previous epoch is kept %v)",
		float64(after.Decrypt.Attempts-before.Decrypt.Attempts)/float64(max(after.Decrypt.Decrypted-before.Decrypt.Decrypted, 1)), dave.RatchetExpiry)
	t.Logf("frames lost per transition, all senders: %.2f (%d over %d transitions)",
		float64(total)/float64(max(transitions, 1)), total, transitions)
	if transitions < 2*churn {
		t.Errorf("only %d transitions for %d joins and leaves", transitions, churn)
	}
	if total != 0 {
		t.Errorf("%d frames lost across %d transitions, want 0", total, transitions)
	}
	dj.send("stop")
}
