package interop

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/ogg"
	"github.com/parleyhq/parley/internal/testkit"
)

// startDJSDAVE starts @discordjs/voice with DAVE on (@snazzah/davey inside;
// interop/node/voice/djs-driver.mjs with dave: true).
func startDJSDAVE(t *testing.T, env *voiceEnv, user string, frames [][]byte, subscribe []string) *driver {
	t.Helper()
	node := nodeBinary(t, "@discordjs/voice", "@snazzah/davey", "@noble/ciphers")
	cfgPath := writeDriverConfig(t, driverConfig{creds: env.creds(user), Subscribe: subscribe, DAVE: true}, frames)
	cmd := exec.Command(node, repoFile(t, filepath.Join("node", "voice", "djs-driver.mjs")), cfgPath)
	cmd.Dir = repoFile(t, "node")
	cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+env.dir.CertPath(), "NODE_NO_WARNINGS=1")
	return startDriver(t, "discordjs-dave", user, cmd)
}

// djsDAVEState is the driver's "state" answer.
type djsDAVEState struct {
	Version *int    `json:"version"`
	Epoch   *string `json:"epoch"`
	Code    *string `json:"code"`
	Ready   bool    `json:"ready"`
}

func (d *driver) daveState() djsDAVEState {
	d.t.Helper()
	d.send("state")
	e := d.wait("state", 5*time.Second)
	var st djsDAVEState
	if err := json.Unmarshal([]byte(e.Message), &st); err != nil {
		d.t.Fatalf("%s state %q: %v", d.label, e.Message, err)
	}
	return st
}

// daveSynced waits until the server's group is exactly the given users,
// with no proposal or transition pending, and every Go client and
// discord.js client reports the server's epoch and one voice privacy code.
// It returns the code.
func daveSynced(t *testing.T, env *voiceEnv, gos []*goPeer, djs []*driver, others ...string) string {
	t.Helper()
	var want []uint64
	for _, u := range others {
		n, _ := strconv.ParseUint(u, 10, 64)
		want = append(want, n)
	}
	for _, g := range gos {
		n, _ := strconv.ParseUint(g.user, 10, 64)
		want = append(want, n)
	}
	for _, d := range djs {
		n, _ := strconv.ParseUint(d.user, 10, 64)
		want = append(want, n)
	}
	slices.Sort(want)
	st, _ := env.srv.DAVEState(testGuild, testChannel)
	var code, why string
	synced := testkit.Poll(20*time.Second, func() bool {
		st, _ = env.srv.DAVEState(testGuild, testChannel)
		group := slices.Clone(st.GroupUsers)
		slices.Sort(group)
		ok := st.Established && !st.Transition && st.Proposals == 0 && slices.Equal(group, want)
		why = ""
		if !ok {
			why = "server"
		}
		epoch := strconv.FormatUint(st.Epoch, 10)
		code = ""
		for _, g := range gos {
			s := g.conn.DAVE()
			if !s.Ready || s.ProtocolVersion != 1 || s.Epoch != st.Epoch || s.Pending != 0 || code != "" && s.PrivacyCode != code {
				ok, why = false, "go "+g.user+" "+strconv.FormatUint(s.Epoch, 10)
			}
			code = s.PrivacyCode
		}
		if ok {
			for _, d := range djs {
				s := d.daveState()
				if !s.Ready || s.Version == nil || *s.Version != 1 || s.Epoch == nil || *s.Epoch != epoch || s.Code == nil || code != "" && *s.Code != code {
					ok, why = false, "discordjs "+d.user
					break
				}
				code = *s.Code
			}
		}
		return ok && code != ""
	})
	if !synced {
		t.Fatalf("DAVE not in sync (%s): server %+v", why, st)
	}
	return code
}

// TestDAVEDiscordJS: Parley's Go client and two @discordjs/voice clients
// with DAVE on (davey inside) form one MLS group through the gateway, all
// report the same epoch and voice privacy code and pairwise codes, and Opus
// crosses in every direction end-to-end encrypted and decrypts to the
// bytes sent.
func TestDAVEDiscordJS(t *testing.T) {
	env := startVoice(t, false)
	const goUser, u1, u2 = "100000000000000101", "100000000000000102", "100000000000000103"
	goFrames, f1, f2 := ogg.SyntheticOpus(50, 101), ogg.SyntheticOpus(50, 102), ogg.SyntheticOpus(50, 103)
	g := env.joinGo(t, goUser, "")
	d1 := startDJSDAVE(t, env, u1, f1, []string{goUser, u2})
	d2 := startDJSDAVE(t, env, u2, f2, []string{goUser, u1})
	d1.wait("ready", 20*time.Second)
	d2.wait("ready", 20*time.Second)
	code := daveSynced(t, env, []*goPeer{g}, []*driver{d1, d2})
	if len(code) != 30 {
		t.Fatalf("voice privacy code %q", code)
	}
	goCode, err := g.conn.PairwiseCode(u1)
	if err != nil {
		t.Fatal(err)
	}
	d1.send("code " + goUser)
	if e := d1.wait("code", 10*time.Second); e.Message != goCode {
		t.Fatalf("pairwise code: discord.js %q, Go %q", e.Message, goCode)
	}

	d1.send("play")
	d2.send("play")
	playGo(t, g, goFrames)
	d1.wait("played", 15*time.Second)
	d2.wait("played", 15*time.Second)
	g.got.waitAudio(u1, len(f1), 5*time.Second)
	g.got.waitAudio(u2, len(f2), 5*time.Second)
	d1.got.waitAudio(goUser, len(goFrames), 5*time.Second)
	d1.got.waitAudio(u2, len(f2), 5*time.Second)
	d2.got.waitAudio(goUser, len(goFrames), 5*time.Second)
	d2.got.waitAudio(u1, len(f1), 5*time.Second)
	checkFrames(t, "discordjs 1 -> go", g.got.from(u1), f1)
	checkFrames(t, "discordjs 2 -> go", g.got.from(u2), f2)
	checkFrames(t, "go -> discordjs 1", d1.got.from(goUser), goFrames)
	checkFrames(t, "discordjs 2 -> discordjs 1", d1.got.from(u2), f2)
	checkFrames(t, "go -> discordjs 2", d2.got.from(goUser), goFrames)
	checkFrames(t, "discordjs 1 -> discordjs 2", d2.got.from(u1), f1)
	if st := g.conn.DAVE(); st.Encrypt.Encrypted < uint64(len(goFrames)) || st.Decrypt.Decrypted < uint64(len(f1)+len(f2)) {
		t.Fatalf("media was not end-to-end encrypted: %+v", st)
	}
	for _, d := range []*driver{d1, d2} {
		d.send("leave")
		d.wait("left", 5*time.Second)
	}
}

// playGo plays frames from a Go client in real time.
func playGo(t *testing.T, g *goPeer, frames [][]byte) {
	t.Helper()
	ctx, cancel := contextTimeout(20 * time.Second)
	defer cancel()
	if err := g.conn.PlayFrames(ctx, frames); err != nil {
		t.Fatalf("go play: %v", err)
	}
}
