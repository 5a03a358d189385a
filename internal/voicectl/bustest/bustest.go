// Package bustest is the one test suite every voicectl.Bus implementation
// passes: the node's own Controller called in process (one machine) and
// fleet.Bus over etcd followed by the nodes (fleet.Follower). A command
// given to the bus reaches the node serving the call within a bound (the
// suite measures it), in order and once; stored state (server mute,
// deafen, revocations) reaches a node that starts later, and past
// disconnects do not.
package bustest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/internal/voicectl"
)

// Call is one call a Recorder received.
type Call struct {
	Op          string // "mute", "deaf", "disconnect", "revoke"
	Guild, User string
	Session     string // revoke
	Value       bool   // mute, deaf
}

// Recorder is a voice node's Controller as the suite sees it: it records
// every call in order and keeps the node's moderation and revocations.
type Recorder struct {
	mu      sync.Mutex
	calls   []Call
	mod     map[string]voicectl.Moderation // guild/user
	revoked map[string]time.Time
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder {
	return &Recorder{mod: map[string]voicectl.Moderation{}, revoked: map[string]time.Time{}}
}

var _ voicectl.Bus = (*Recorder)(nil)

func (r *Recorder) record(c Call, f func()) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, c)
	if f != nil {
		f()
	}
	return nil
}

// SetServerMute implements voicectl.Controller.
func (r *Recorder) SetServerMute(_ context.Context, guild, user string, mute bool) error {
	return r.record(Call{Op: "mute", Guild: guild, User: user, Value: mute}, func() {
		m := r.mod[guild+"/"+user]
		m.Mute = mute
		r.mod[guild+"/"+user] = m
	})
}

// SetServerDeaf implements voicectl.Controller.
func (r *Recorder) SetServerDeaf(_ context.Context, guild, user string, deaf bool) error {
	return r.record(Call{Op: "deaf", Guild: guild, User: user, Value: deaf}, func() {
		m := r.mod[guild+"/"+user]
		m.Deaf = deaf
		r.mod[guild+"/"+user] = m
	})
}

// Disconnect implements voicectl.Controller.
func (r *Recorder) Disconnect(_ context.Context, guild, user string) error {
	return r.record(Call{Op: "disconnect", Guild: guild, User: user}, nil)
}

// Revoke implements voicectl.Revoker.
func (r *Recorder) Revoke(_ context.Context, s voicectl.Session, until time.Time) error {
	return r.record(Call{Op: "revoke", Guild: s.GuildID, User: s.UserID, Session: s.SessionID}, func() {
		r.revoked[s.SessionID] = until
	})
}

// Moderation is the node's moderation of a user.
func (r *Recorder) Moderation(guild, user string) voicectl.Moderation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mod[guild+"/"+user]
}

// Revoked reports whether the node holds a revocation of session.
func (r *Recorder) Revoked(session string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.revoked[session]
	return ok
}

// Calls returns the calls so far.
func (r *Recorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// count counts the calls equal to c.
func (r *Recorder) count(c Call) int {
	n := 0
	for _, got := range r.Calls() {
		if got == c {
			n++
		}
	}
	return n
}

// Harness is one fresh bus and the node that follows it.
type Harness struct {
	// Bus is what the control plane calls.
	Bus voicectl.Bus
	// Node is the voice node serving the calls.
	Node *Recorder
	// AddNode, if set, starts another node following the bus (one that
	// joins the fleet later, or restarts) and returns it with its
	// Admitter (nil: the node's own moderation table answers).
	AddNode func(t *testing.T) (*Recorder, voicectl.Admitter)
}

// Run runs the suite; newHarness gives each subtest a fresh bus.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newHarness(t))
		})
	}
}

// bound is what a command may take to reach the node (5x the 100 ms
// target).
const bound = 500 * time.Millisecond

// applied waits until cond holds on the node and returns how long it took.
func applied(t *testing.T, start time.Time, cond func() bool, msg string, args ...any) time.Duration {
	t.Helper()
	testkit.Eventually(t, 5*time.Second, cond, msg, args...)
	return time.Since(start)
}

var cases = []struct {
	name string
	run  func(t *testing.T, h Harness)
}{
	{"mute and deafen reach the node", func(t *testing.T, h Harness) {
		ctx := context.Background()
		for _, step := range []struct {
			mute bool
			set  func() error
			want voicectl.Moderation
		}{
			{set: func() error { return h.Bus.SetServerMute(ctx, "g1", "u1", true) }, want: voicectl.Moderation{Mute: true}},
			{set: func() error { return h.Bus.SetServerDeaf(ctx, "g1", "u1", true) }, want: voicectl.Moderation{Mute: true, Deaf: true}},
			{set: func() error { return h.Bus.SetServerMute(ctx, "g1", "u1", false) }, want: voicectl.Moderation{Deaf: true}},
			{set: func() error { return h.Bus.SetServerDeaf(ctx, "g1", "u1", false) }, want: voicectl.Moderation{}},
		} {
			start := time.Now()
			if err := step.set(); err != nil {
				t.Fatal(err)
			}
			took := applied(t, start, func() bool { return h.Node.Moderation("g1", "u1") == step.want }, "node has %+v", step.want)
			if took > bound {
				t.Errorf("took %v to reach the node (bound %v)", took, bound)
			}
		}
		if m := h.Node.Moderation("g1", "u2"); m != (voicectl.Moderation{}) {
			t.Fatalf("another user's moderation changed: %+v", m)
		}
	}},
	{"in order", func(t *testing.T, h Harness) {
		ctx := context.Background()
		for i := range 10 {
			if err := h.Bus.SetServerMute(ctx, "g1", "u1", i%2 == 0); err != nil {
				t.Fatal(err)
			}
		}
		_ = h.Bus.SetServerDeaf(ctx, "g1", "marker", true)
		applied(t, time.Now(), func() bool { return h.Node.Moderation("g1", "marker").Deaf }, "the marker arrived")
		var seq []bool
		for _, c := range h.Node.Calls() {
			if c.Op == "mute" && c.User == "u1" {
				seq = append(seq, c.Value)
			}
		}
		// Repeats may be folded (a node replaying stored state), but the
		// last applied is the last given and no value comes back after it.
		if len(seq) == 0 || seq[len(seq)-1] != false || h.Node.Moderation("g1", "u1").Mute {
			t.Fatalf("mutes applied %v, want the last to be false", seq)
		}
	}},
	{"disconnect once", func(t *testing.T, h Harness) {
		ctx := context.Background()
		start := time.Now()
		if err := h.Bus.Disconnect(ctx, "g1", "u1"); err != nil {
			t.Fatal(err)
		}
		took := applied(t, start, func() bool { return h.Node.count(Call{Op: "disconnect", Guild: "g1", User: "u1"}) > 0 }, "disconnect reached the node")
		if took > bound {
			t.Errorf("disconnect took %v (bound %v)", took, bound)
		}
		_ = h.Bus.SetServerMute(ctx, "g1", "marker", true) // a positive marker: nothing more came before it
		applied(t, time.Now(), func() bool { return h.Node.Moderation("g1", "marker").Mute }, "the marker arrived")
		if n := h.Node.count(Call{Op: "disconnect", Guild: "g1", User: "u1"}); n != 1 {
			t.Fatalf("disconnect applied %d times, want once", n)
		}
	}},
	{"revoke", func(t *testing.T, h Harness) {
		s := voicectl.Session{GuildID: "g1", ChannelID: "c1", UserID: "u1", SessionID: "s1"}
		start := time.Now()
		if err := h.Bus.Revoke(context.Background(), s, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		took := applied(t, start, func() bool { return h.Node.Revoked("s1") }, "the revocation reached the node")
		if took > bound {
			t.Errorf("revoke took %v (bound %v)", took, bound)
		}
		if h.Node.Revoked("s2") {
			t.Fatal("another session revoked")
		}
	}},
	{"a node that starts later gets the stored state", func(t *testing.T, h Harness) {
		if h.AddNode == nil {
			t.Skip("one node: nothing starts later")
		}
		ctx := context.Background()
		_ = h.Bus.SetServerMute(ctx, "g1", "muted", true)
		_ = h.Bus.SetServerDeaf(ctx, "g1", "deaf", true)
		_ = h.Bus.SetServerMute(ctx, "g1", "unmuted", true)
		_ = h.Bus.SetServerMute(ctx, "g1", "unmuted", false)
		_ = h.Bus.Revoke(ctx, voicectl.Session{GuildID: "g1", UserID: "kicked", SessionID: "old"}, time.Now().Add(time.Hour))
		_ = h.Bus.Disconnect(ctx, "g1", "kicked")
		applied(t, time.Now(), func() bool { return h.Node.count(Call{Op: "disconnect", Guild: "g1", User: "kicked"}) == 1 }, "the first node has all")
		late, adm := h.AddNode(t)
		applied(t, time.Now(), func() bool {
			return late.Moderation("g1", "muted").Mute && late.Moderation("g1", "deaf").Deaf && late.Revoked("old")
		}, "the later node has the stored mute, deafen and revocation")
		if n := late.count(Call{Op: "disconnect", Guild: "g1", User: "kicked"}); n != 0 {
			t.Fatalf("a past disconnect replayed on the later node (%d)", n)
		}
		if adm != nil {
			for user, want := range map[string]voicectl.Moderation{"muted": {Mute: true}, "deaf": {Deaf: true}, "unmuted": {}} {
				m, err := adm.Admit(ctx, voicectl.Session{GuildID: "g1", ChannelID: "c1", UserID: user, SessionID: "new"})
				if err != nil || m != want {
					t.Errorf("Admit(%s) = %+v, %v; want %+v (stored, whatever the token says)", user, m, err, want)
				}
			}
		}
		// Live changes reach both.
		_ = h.Bus.SetServerMute(ctx, "g1", "both", true)
		applied(t, time.Now(), func() bool {
			return late.Moderation("g1", "both").Mute && h.Node.Moderation("g1", "both").Mute
		}, "a live mute reaches both nodes")
	}},
	{"latency", func(t *testing.T, h Harness) {
		ctx := context.Background()
		var took []time.Duration
		for i := range 40 {
			start := time.Now()
			want := i%2 == 0
			if err := h.Bus.SetServerMute(ctx, "g1", "lat", want); err != nil {
				t.Fatal(err)
			}
			took = append(took, applied(t, start, func() bool { return h.Node.Moderation("g1", "lat").Mute == want }, "mute %d", i))
		}
		slices.Sort(took)
		p50, p90, worst := took[len(took)/2], took[len(took)*9/10], took[len(took)-1]
		t.Logf("command to node: p50 %v, p90 %v, max %v (%d commands)", p50.Round(10*time.Microsecond), p90.Round(10*time.Microsecond), worst.Round(10*time.Microsecond), len(took))
		if p90 > bound {
			t.Errorf("p90 %v beyond %v", p90, bound)
		}
	}},
	{"bad ids refused", func(t *testing.T, h Harness) {
		// Ids are snowflakes and hex session ids; whatever an
		// implementation does with other text, it neither panics nor
		// touches another user.
		ctx := context.Background()
		for _, bad := range []string{"", "a/b", "../x", string(make([]byte, 300))} {
			_ = h.Bus.SetServerMute(ctx, "g1", bad, true)
			_ = h.Bus.Revoke(ctx, voicectl.Session{GuildID: "g1", UserID: "u1", SessionID: bad}, time.Now().Add(time.Hour))
		}
		_ = h.Bus.SetServerMute(ctx, "g1", "marker", true)
		applied(t, time.Now(), func() bool { return h.Node.Moderation("g1", "marker").Mute }, "the marker arrived")
		if m := h.Node.Moderation("g1", "u1"); m != (voicectl.Moderation{}) {
			t.Fatal(fmt.Sprintf("u1 touched: %+v", m))
		}
	}},
}
