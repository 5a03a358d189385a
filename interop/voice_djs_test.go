package interop

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/ogg"
	"github.com/parleyhq/parley/voiceproto"
)

// startDJS starts @discordjs/voice 0.19.2 in Node (djs-driver.mjs): it joins
// as user through a custom adapter, plays frames on "play" and records
// frames from the users in subscribe. mode, if set, is the only mode the
// driver lets the library see offered.
func startDJS(t *testing.T, env *voiceEnv, user string, frames [][]byte, subscribe []string, mode string) *driver {
	t.Helper()
	node := nodeBinary(t, "@discordjs/voice", "@noble/ciphers")
	cfgPath := writeDriverConfig(t, driverConfig{creds: env.creds(user), Subscribe: subscribe, Mode: mode}, frames)
	cmd := exec.Command(node, repoFile(t, filepath.Join("node", "voice", "djs-driver.mjs")), cfgPath)
	cmd.Dir = repoFile(t, "node")
	cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+env.dir.CertPath(), "NODE_NO_WARNINGS=1")
	return startDriver(t, "discordjs", user, cmd)
}

// TestDiscordJSVoice: @discordjs/voice and Parley's Go client exchange audio
// through the server, in both AEAD modes.
func TestDiscordJSVoice(t *testing.T) {
	for _, mode := range []string{voiceproto.ModeAES256GCMRTPSize, voiceproto.ModeXChaCha20RTPSize} {
		t.Run(mode, func(t *testing.T) {
			env := startVoice(t, false)
			const goUser, djsUser = "100000000000000001", "100000000000000002"
			goFrames, djsFrames := ogg.SyntheticOpus(100, 1), ogg.SyntheticOpus(100, 2)
			g := env.joinGoNoDAVE(t, goUser, "")
			d := startDJS(t, env, djsUser, djsFrames, []string{goUser}, mode)
			if ready := d.wait("ready", 20*time.Second); ready.Mode != mode {
				t.Fatalf("discordjs selected %q, want %q", ready.Mode, mode)
			}
			exchange(t, g, d, "discordjs", goFrames, djsFrames)
			d.send("leave")
			d.wait("left", 5*time.Second)
		})
	}
}

// exchange plays goFrames from g and peerFrames from the driver at once and
// checks both directions.
func exchange(t *testing.T, g *goPeer, d *driver, name string, goFrames, peerFrames [][]byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d.send("play")
	if err := g.conn.PlayFrames(ctx, goFrames); err != nil {
		t.Fatalf("go play: %v", err)
	}
	d.wait("played", 15*time.Second)
	g.got.waitAudio(d.user, len(peerFrames), 3*time.Second)
	d.got.waitAudio(g.user, len(goFrames), 3*time.Second)
	checkGoFrames(t, name+" -> go", g, d.user, peerFrames)
	checkFrames(t, "go -> "+name, d.got.from(g.user), goFrames)
}
