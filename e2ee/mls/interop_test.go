package mls

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// daveyPeer drives @snazzah/davey sessions (OpenMLS) through
// testdata/davey_driver.mjs.
type daveyPeer struct {
	t   *testing.T
	cmd *exec.Cmd
	in  *json.Encoder
	out *bufio.Scanner
}

func startDavey(t *testing.T) *daveyPeer {
	t.Helper()
	required := os.Getenv("PARLEY_INTEROP") == "1"
	skip := func(format string, args ...any) {
		t.Helper()
		if required {
			t.Fatalf(format, args...)
		}
		t.Skipf(format+" (set PARLEY_INTEROP=1 to require)", args...)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		skip("node not installed: %v", err)
	}
	mod := filepath.Join("..", "..", "interop", "node", "node_modules", "@snazzah", "davey")
	if _, err := os.Stat(mod); err != nil {
		skip("@snazzah/davey not installed at %s: %v", mod, err)
	}
	cmd := exec.Command(node, filepath.Join("testdata", "davey_driver.mjs"))
	stdin, err := cmd.StdinPipe()
	mustNoErr(t, err)
	stdout, err := cmd.StdoutPipe()
	mustNoErr(t, err)
	cmd.Stderr = os.Stderr
	mustNoErr(t, cmd.Start())
	p := &daveyPeer{t: t, cmd: cmd, in: json.NewEncoder(stdin), out: bufio.NewScanner(stdout)}
	p.out.Buffer(make([]byte, 1<<20), 16<<20)
	t.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return p
}

// call sends one command and returns the reply; ok=false replies fail the
// test unless allowErr.
func (p *daveyPeer) call(cmd map[string]any, allowErr bool) map[string]any {
	p.t.Helper()
	mustNoErr(p.t, p.in.Encode(cmd))
	if !p.out.Scan() {
		p.t.Fatalf("davey driver exited: %v", p.out.Err())
	}
	var r map[string]any
	mustNoErr(p.t, json.Unmarshal(p.out.Bytes(), &r))
	if r["ok"] != true && !allowErr {
		p.t.Fatalf("davey %v: %v", cmd["cmd"], r["error"])
	}
	return r
}

func hexField(t *testing.T, r map[string]any, k string) []byte {
	t.Helper()
	s, _ := r[k].(string)
	b, err := hex.DecodeString(s)
	mustNoErr(t, err)
	return b
}

// vectorOf encodes concatenated messages as <V> (op 27 append payload).
func vectorOf(msgs ...[]byte) []byte {
	var w writer
	w.vec(func(w *writer) {
		for _, m := range msgs {
			w.raw(m)
		}
	})
	return w.b
}

// TestDaveyInterop runs this package's gateway and Go members with a real
// OpenMLS member (davey): davey's commit establishes the group, a Go commit
// removes and adds, davey processes it and a later davey commit is
// processed by Go. Epoch authenticators must agree throughout.
func TestDaveyInterop(t *testing.T) {
	dv := startDavey(t)
	const channel = 99
	gid := binary.BigEndian.AppendUint64(nil, channel)
	gkey, err := GenerateSignatureKey()
	mustNoErr(t, err)
	es := NewExternalSender(gkey, userID(0))
	view := NewServerGroupView(gid, es)
	users := []string{"1", "2", "3", "4", "5"}

	entry := es.Entry()
	dv.call(map[string]any{"cmd": "new", "id": "a", "user": "1", "channel": strconv.Itoa(channel)}, false)
	dv.call(map[string]any{"cmd": "extsender", "id": "a", "hex": hex.EncodeToString(entry.Marshal())}, false)
	kpA := hexField(t, dv.call(map[string]any{"cmd": "keypackage", "id": "a"}, false), "hex")
	kpAParsed, err := ParseKeyPackage(kpA)
	mustNoErr(t, err)
	mustNoErr(t, kpAParsed.Verify())
	mustNoErr(t, kpAParsed.CheckDAVELifetime())

	b, c := newTestMember(t, 2), newTestMember(t, 3)
	for _, m := range []*testMember{b, c} {
		m.group, err = NewGroup(gid, m.bundle, []Extension{es.Extension()}, WithUniqueIdentities())
		mustNoErr(t, err)
	}
	_, _, err = view.ProposeAdd(kpA)
	mustNoErr(t, err)
	addB, _, err := view.ProposeAdd(b.kpBytes())
	mustNoErr(t, err)
	addC, _, err := view.ProposeAdd(c.kpBytes())
	mustNoErr(t, err)

	// 1. davey commits the initial Adds and wins.
	r := dv.call(map[string]any{"cmd": "proposals", "id": "a", "optype": 0, "hex": hex.EncodeToString(vectorOf(addB, addC)), "users": users}, false)
	op28 := append(hexField(t, r, "commit"), hexField(t, r, "welcome")...)
	cc, err := view.CheckCommit(op28, kpAParsed)
	mustNoErr(t, err)
	mustNoErr(t, view.ApplyCommit(cc))
	dv.call(map[string]any{"cmd": "commit", "id": "a", "hex": hex.EncodeToString(cc.Commit)}, false)
	for _, a := range cc.Added {
		m := map[uint64]*testMember{2: b, 3: c}[binary.BigEndian.Uint64(a.Identity)]
		m.group, err = JoinFromWelcome(a.Welcome, m.bundle, WithUniqueIdentities())
		mustNoErr(t, err)
	}
	assertSynced(t, b.group, c.group)
	st := dv.call(map[string]any{"cmd": "state", "id": "a"}, false)
	eq(t, "davey epoch authenticator", hexField(t, st, "auth"), b.group.EpochAuthenticator())
	if st["epoch"].(float64) != 1 || st["leaf"].(float64) != 0 {
		t.Fatalf("davey state %v", st)
	}

	// 2. Remove c, add d; both davey and b commit, b wins.
	d := newTestMember(t, 4)
	rm, _, err := view.ProposeRemove(2)
	mustNoErr(t, err)
	addD, refD, err := view.ProposeAdd(d.kpBytes())
	mustNoErr(t, err)
	var refs []ProposalRef
	for _, msg := range [][]byte{rm, addD} {
		_, ref, err := b.group.ProcessProposal(msg)
		mustNoErr(t, err)
		refs = append(refs, ref)
	}
	_ = refD
	dv.call(map[string]any{"cmd": "proposals", "id": "a", "optype": 0, "hex": hex.EncodeToString(vectorOf(rm, addD)), "users": users}, false)
	commit, welcome, err := b.group.CreateCommit(refs, nil)
	mustNoErr(t, err)
	cc, err = view.CheckCommit(append(commit, welcome...), nil)
	mustNoErr(t, err)
	mustNoErr(t, view.ApplyCommit(cc))
	_, err = b.group.ProcessCommit(cc.Commit)
	mustNoErr(t, err)
	dv.call(map[string]any{"cmd": "commit", "id": "a", "hex": hex.EncodeToString(cc.Commit)}, false)
	d.group, err = JoinFromWelcome(cc.Added[0].Welcome, d.bundle, WithUniqueIdentities())
	mustNoErr(t, err)
	assertSynced(t, b.group, d.group)
	st = dv.call(map[string]any{"cmd": "state", "id": "a"}, false)
	eq(t, "davey epoch authenticator after Go commit", hexField(t, st, "auth"), b.group.EpochAuthenticator())

	// 3. A Go participant joins a davey commit: e is added by davey.
	e := newTestMember(t, 5)
	addE, _, err := view.ProposeAdd(e.kpBytes())
	mustNoErr(t, err)
	for _, g := range []*Group{b.group, d.group} {
		_, _, err := g.ProcessProposal(addE)
		mustNoErr(t, err)
	}
	r = dv.call(map[string]any{"cmd": "proposals", "id": "a", "optype": 0, "hex": hex.EncodeToString(vectorOf(addE)), "users": users}, false)
	cc, err = view.CheckCommit(append(hexField(t, r, "commit"), hexField(t, r, "welcome")...), nil)
	mustNoErr(t, err)
	mustNoErr(t, view.ApplyCommit(cc))
	dv.call(map[string]any{"cmd": "commit", "id": "a", "hex": hex.EncodeToString(cc.Commit)}, false)
	for _, g := range []*Group{b.group, d.group} {
		_, err := g.ProcessCommit(cc.Commit)
		mustNoErr(t, err)
	}
	e.group, err = JoinFromWelcome(cc.Added[0].Welcome, e.bundle, WithUniqueIdentities())
	mustNoErr(t, err)
	assertSynced(t, b.group, d.group, e.group)
	st = dv.call(map[string]any{"cmd": "state", "id": "a"}, false)
	eq(t, "davey epoch authenticator after davey commit", hexField(t, st, "auth"), b.group.EpochAuthenticator())
	if view.Epoch() != 3 || len(view.Members()) != 4 {
		t.Fatalf("view epoch %d members %d", view.Epoch(), len(view.Members()))
	}
}

// TestDaveyJoinsGoCommit: a Go member's initial commit wins; davey joins
// from the split Welcome, then commits a Remove that Go processes.
func TestDaveyJoinsGoCommit(t *testing.T) {
	dv := startDavey(t)
	const channel = 7
	gid := binary.BigEndian.AppendUint64(nil, channel)
	gkey, err := GenerateSignatureKey()
	mustNoErr(t, err)
	es := NewExternalSender(gkey, userID(0))
	view := NewServerGroupView(gid, es)
	users := []string{"1", "2", "3"}
	entry := es.Entry()
	dv.call(map[string]any{"cmd": "new", "id": "a", "user": "1", "channel": strconv.Itoa(channel)}, false)
	dv.call(map[string]any{"cmd": "extsender", "id": "a", "hex": hex.EncodeToString(entry.Marshal())}, false)
	kpA := hexField(t, dv.call(map[string]any{"cmd": "keypackage", "id": "a"}, false), "hex")

	b, c := newTestMember(t, 2), newTestMember(t, 3)
	for _, m := range []*testMember{b, c} {
		m.group, err = NewGroup(gid, m.bundle, []Extension{es.Extension()}, WithUniqueIdentities())
		mustNoErr(t, err)
	}
	addA, refA, err := view.ProposeAdd(kpA)
	mustNoErr(t, err)
	_, _, err = view.ProposeAdd(b.kpBytes())
	mustNoErr(t, err)
	addC, refC, err := view.ProposeAdd(c.kpBytes())
	mustNoErr(t, err)
	for _, msg := range [][]byte{addA, addC} {
		_, _, err := b.group.ProcessProposal(msg)
		mustNoErr(t, err)
	}
	commit, welcome, err := b.group.CreateCommit([]ProposalRef{refA, refC}, nil)
	mustNoErr(t, err)
	cc, err := view.CheckCommit(append(commit, welcome...), b.bundle.KeyPackage)
	mustNoErr(t, err)
	mustNoErr(t, view.ApplyCommit(cc))
	_, err = b.group.ProcessCommit(cc.Commit)
	mustNoErr(t, err)
	for _, a := range cc.Added {
		switch binary.BigEndian.Uint64(a.Identity) {
		case 1:
			dv.call(map[string]any{"cmd": "welcome", "id": "a", "hex": hex.EncodeToString(a.Welcome)}, false)
		case 3:
			c.group, err = JoinFromWelcome(a.Welcome, c.bundle, WithUniqueIdentities())
			mustNoErr(t, err)
		}
	}
	assertSynced(t, b.group, c.group)
	st := dv.call(map[string]any{"cmd": "state", "id": "a"}, false)
	eq(t, "davey epoch authenticator", hexField(t, st, "auth"), b.group.EpochAuthenticator())

	// davey commits the gateway's Remove of c.
	rm, _, err := view.ProposeRemove(2)
	mustNoErr(t, err)
	_, _, err = b.group.ProcessProposal(rm)
	mustNoErr(t, err)
	r := dv.call(map[string]any{"cmd": "proposals", "id": "a", "optype": 0, "hex": hex.EncodeToString(vectorOf(rm)), "users": users}, false)
	cc, err = view.CheckCommit(hexField(t, r, "commit"), nil)
	mustNoErr(t, err)
	mustNoErr(t, view.ApplyCommit(cc))
	dv.call(map[string]any{"cmd": "commit", "id": "a", "hex": hex.EncodeToString(cc.Commit)}, false)
	_, err = b.group.ProcessCommit(cc.Commit)
	mustNoErr(t, err)
	st = dv.call(map[string]any{"cmd": "state", "id": "a"}, false)
	eq(t, "davey epoch authenticator after remove", hexField(t, st, "auth"), b.group.EpochAuthenticator())
}
