package interop

import (
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/ogg"
	"github.com/parleyhq/parley/voiceproto"
)

// disgo runs in its own process (interop/disgodriver, built without -race):
// disgo v0.19.6's gateway goroutines share fields without synchronization,
// which the race detector reports in whatever test binary hosts it.
var disgoBuild struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

func disgoDriverBinary(t *testing.T) string {
	t.Helper()
	disgoBuild.once.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			disgoBuild.err = err
			return
		}
		dir, err := mkdirTemp("parley-disgodriver-")
		if err != nil {
			disgoBuild.err = err
			return
		}
		disgoBuild.path = filepath.Join(dir, "disgodriver")
		cmd := exec.Command(goTool, "build", "-o", disgoBuild.path, "./disgodriver")
		cmd.Dir = repoFile(t, ".")
		disgoBuild.out, disgoBuild.err = cmd.CombinedOutput()
	})
	if disgoBuild.err != nil {
		t.Fatalf("build interop/disgodriver: %v\n%s", disgoBuild.err, disgoBuild.out)
	}
	return disgoBuild.path
}

// startDisgo starts a disgo v0.19.6 client joined as user; mode, if set, is
// the only mode disgo will choose.
func startDisgo(t *testing.T, env *voiceEnv, user string, frames [][]byte, mode string) *driver {
	t.Helper()
	bin := disgoDriverBinary(t)
	cfgPath := writeDriverConfig(t, driverConfig{creds: env.creds(user), Mode: mode, CA: env.dir.CertPath()}, frames)
	return startDriver(t, "disgo", user, exec.Command(bin, cfgPath))
}

// TestDisgoVoice: disgo and Parley's Go client exchange audio, in both AEAD
// modes.
func TestDisgoVoice(t *testing.T) {
	for _, mode := range []string{voiceproto.ModeAES256GCMRTPSize, voiceproto.ModeXChaCha20RTPSize} {
		t.Run(mode, func(t *testing.T) {
			env := startVoice(t, false)
			const goUser, disgoUser = "100000000000000011", "100000000000000012"
			goFrames, disgoFrames := ogg.SyntheticOpus(100, 11), ogg.SyntheticOpus(100, 12)
			g := env.joinGoNoDAVE(t, goUser, "")
			d := startDisgo(t, env, disgoUser, disgoFrames, mode)
			if ready := d.wait("ready", 20*time.Second); ready.Mode != mode {
				t.Fatalf("disgo selected %q, want %q", ready.Mode, mode)
			}
			exchange(t, g, d, "disgo", goFrames, disgoFrames)
			d.send("leave")
			d.wait("left", 5*time.Second)
		})
	}
}
