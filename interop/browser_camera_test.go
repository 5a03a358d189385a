package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/voiceclient"
	"github.com/parleyhq/parley/voiceproto"
)

// TestBrowserCamera: a headless Chromium turns its camera on (a fake
// device reading a .y4m clip made with ffmpeg at test time; two simulcast
// layers, rids "50" and "100"), watched by a second Chromium and by the Go
// client in the same room (transport encryption; DAVE is not asked for).
// The watching browser's framesDecoded rises every second; the Go
// client's recording of the layer it gets (the best: "100") decodes with
// ffmpeg, and its frame count is within a few percent of the frames the
// camera browser encoded on that layer (getStats outbound framesEncoded).
// Screenshots of both pages (camera preview; the received tile) are kept
// in the test's temp dir.
func TestBrowserCamera(t *testing.T) {
	testkit.NoLeaks(t)
	clip := makeY4M(t, 640, 360, 20, 3)
	env, reg := startVoiceWebRTC(t)
	const camUser, watchUser, goUser = "100000000000000061", "100000000000000062", "100000000000000063"

	cam := startCameraBrowser(t, env.dir.CertPath(), clip)
	watch := startCameraBrowser(t, env.dir.CertPath(), clip)
	wb, _ := json.Marshal(env.creds(watchUser))
	eval[uint32](watch, 20*time.Second, fmt.Sprintf(`harness.join(%s, 1, {videoReceivers: 1})`, wb))
	rec := newIVFRecorder(t, filepath.Join(t.TempDir(), "camera.ivf"))
	c := env.creds(goUser)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := voiceclient.Dial(ctx, voiceclient.Config{Endpoint: c.Endpoint, Token: c.Token, SessionID: c.SessionID, UserID: goUser,
		GuildID: c.GuildID, ChannelID: c.ChannelID, RootCAs: env.pool, DisableDAVE: true, Logger: env.log.With("client", "go"),
		OnVideoFrame: rec.frame})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })

	b, _ := json.Marshal(env.creds(camUser))
	eval[uint32](cam, 20*time.Second, fmt.Sprintf(`harness.join(%s, 1, {video: true})`, b))
	eval[any](cam, 10*time.Second, `harness.camera(true).then(() => true)`)
	start := time.Now()

	// The watching browser decodes, steadily: framesDecoded rises in each
	// of four one-second windows.
	decoded := func() int {
		st := eval[videoStats](watch, 5*time.Second, `harness.videoStats()`)
		n := 0
		for _, s := range st.Inbound {
			n += s.FramesDecoded
		}
		return n
	}
	watch.until(15*time.Second, `harness.videoStats().then(s => Object.values(s.inbound).some(v => v.framesDecoded > 0))`, "the watcher decodes the camera")
	last := decoded()
	for i := range 4 {
		deadline := time.Now().Add(time.Second)
		testkit.Eventually(t, 5*time.Second, func() bool { return time.Now().After(deadline) }, "a second passes")
		n := decoded()
		if n-last < 5 {
			t.Errorf("window %d: the watcher decoded %d frames in a second", i, n-last)
		}
		last = n
	}
	cam.screenshot("camera")
	watch.screenshot("watcher")

	// Stop the camera (the track first: framesEncoded stops), then compare.
	eval[any](cam, 10*time.Second, `harness.camera(false).then(() => true)`)
	out := eval[videoStats](cam, 5*time.Second, `harness.videoStats()`)
	hi, lo := out.Outbound["100"], out.Outbound["50"]
	t.Logf("camera encoded rid 100: %d frames %dx%d, rid 50: %d frames %dx%d, in %v; the watcher decoded %d",
		hi.FramesEncoded, hi.FrameWidth, hi.FrameHeight, lo.FramesEncoded, lo.FrameWidth, lo.FrameHeight, time.Since(start).Round(time.Millisecond), last)
	if hi.FramesEncoded < 40 || lo.FramesEncoded < 40 {
		t.Fatalf("the camera did not send two layers: %+v", out.Outbound)
	}
	sent := hi.FramesEncoded
	testkit.Eventually(t, 10*time.Second, func() bool { return rec.count() >= sent*97/100 }, "the Go client records the camera's frames")
	rec.close()
	got := ffmpegFrames(t, rec.path)
	t.Logf("the Go client recorded %d frames, ffmpeg decodes %d; sent %d", rec.count(), got, sent)
	if got < sent*95/100 || got > sent+2 {
		t.Errorf("ffmpeg decoded %d frames of the Go client's recording; the camera encoded %d", got, sent)
	}
	drops := counters(t, reg, "parley_sfu_drops_total", "reason")
	t.Logf("drops: %v", drops)
	if drops["video_to_webrtc"] > 0 {
		t.Errorf("%v packets not forwarded to a browser", drops["video_to_webrtc"])
	}
}

// videoStats is voice.js's videoStats().
type videoStats struct {
	Inbound map[string]struct {
		UserID        string `json:"userId"`
		FramesDecoded int    `json:"framesDecoded"`
		FrameWidth    int    `json:"frameWidth"`
	} `json:"inbound"`
	Outbound map[string]struct {
		FramesEncoded int `json:"framesEncoded"`
		FrameWidth    int `json:"frameWidth"`
		FrameHeight   int `json:"frameHeight"`
	} `json:"outbound"`
}

// startCameraBrowser is startBrowser with a fake camera reading y4m.
func startCameraBrowser(t *testing.T, certPath, y4m string) *browserPage {
	t.Helper()
	dir := t.TempDir()
	p := &browserPage{t: t, dir: dir}
	p.base, p.rec = serveHarness(t)
	p.ctx, p.stderr = startChromium(t, chromium{dir: dir, certPath: certPath, wav: speechWAV(150, 1),
		flags: []chromedp.ExecAllocatorOption{chromedp.Flag("use-file-for-fake-video-capture", y4m)}})
	t.Cleanup(func() {
		if t.Failed() {
			p.dumpLogs()
		}
	})
	p.open()
	return p
}

// makeY4M makes a moving test pattern as a .y4m clip with Debian's ffmpeg.
func makeY4M(t *testing.T, w, h, fps, seconds int) string {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		missingClient(t, "ffmpeg not installed (scripts/deps.sh installs it)")
	}
	out := filepath.Join(t.TempDir(), "clip.y4m")
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi",
		"-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d", w, h, fps), "-t", strconv.Itoa(seconds), "-pix_fmt", "yuv420p", "-y", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	return out
}

// ffmpegFrames decodes an IVF file with ffmpeg and returns its frame count.
func ffmpegFrames(t *testing.T, path string) int {
	t.Helper()
	b, err := exec.Command("ffmpeg", "-hide_banner", "-nostats", "-i", path, "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg cannot decode the recording: %v\n%s", err, b)
	}
	m := regexp.MustCompile(`frame=\s*(\d+)`).FindAllSubmatch(b, -1)
	if len(m) == 0 {
		t.Fatalf("no frame count in ffmpeg's output:\n%s", b)
	}
	n, _ := strconv.Atoi(string(m[len(m)-1][1]))
	return n
}

// ivfRecorder writes the Go client's received video (one sender) to an
// IVF file from its first keyframe.
type ivfRecorder struct {
	t    *testing.T
	path string
	mu   sync.Mutex
	f    *os.File
	w    *voiceclient.IVFWriter
	base uint32
	n    int
}

func newIVFRecorder(t *testing.T, path string) *ivfRecorder { return &ivfRecorder{t: t, path: path} }

func (r *ivfRecorder) frame(f voiceclient.VideoFrame) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.w == nil {
		if !f.Keyframe || r.f != nil {
			return
		}
		fh, err := os.Create(r.path)
		if err != nil {
			return
		}
		r.f = fh
		r.w, _ = voiceclient.NewIVFWriter(fh, voiceclient.IVFHeader{FourCC: [4]byte{'V', 'P', '8', '0'}, Width: 640, Height: 360,
			Denominator: voiceproto.VideoClockRate, Numerator: 1})
		r.base = f.Timestamp
	}
	if r.w.WriteFrame(uint64(f.Timestamp-r.base), f.Data) == nil {
		r.n++
	}
}

func (r *ivfRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

func (r *ivfRecorder) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f != nil {
		_ = r.f.Close()
	}
	r.w = nil
}
