package voiceclient

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/voiceproto"
)

// makeIVF makes a short VP8 IVF file (320x240, fps frames a second, a
// keyframe every 15) with Debian's ffmpeg into t.TempDir().
func makeIVF(t *testing.T, seconds, fps int) string {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not installed (scripts/deps.sh installs it)")
	}
	out := filepath.Join(t.TempDir(), "camera.ivf")
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi",
		"-i", "testsrc=size=320x240:rate="+strconv.Itoa(fps), "-t", strconv.Itoa(seconds),
		"-c:v", "libvpx", "-g", "15", "-b:v", "400k", "-deadline", "realtime", "-y", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	return out
}

// decodedFrames decodes an IVF file with ffmpeg and returns its frame count.
func decodedFrames(t *testing.T, path string) int {
	t.Helper()
	cmd := exec.Command("ffmpeg", "-hide_banner", "-nostats", "-i", path, "-f", "null", "-")
	b, err := cmd.CombinedOutput()
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

// videoRecorder writes each user's received video to an IVF file.
type videoRecorder struct {
	dir    string
	mu     sync.Mutex
	files  map[string]*os.File
	ivf    map[string]*IVFWriter
	frames map[string]int
	base   map[string]uint32
}

func newVideoRecorder(dir string) *videoRecorder {
	return &videoRecorder{dir: dir, files: map[string]*os.File{}, ivf: map[string]*IVFWriter{},
		frames: map[string]int{}, base: map[string]uint32{}}
}

func (r *videoRecorder) onVideoFrame(f VideoFrame) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.ivf[f.UserID]
	if w == nil {
		if !f.Keyframe {
			return // a decoder starts at a keyframe
		}
		fh, err := os.Create(filepath.Join(r.dir, f.UserID+".ivf"))
		if err != nil {
			return
		}
		w, _ = NewIVFWriter(fh, IVFHeader{FourCC: [4]byte{'V', 'P', '8', '0'}, Width: 320, Height: 240,
			Denominator: voiceproto.VideoClockRate, Numerator: 1})
		r.files[f.UserID], r.ivf[f.UserID], r.base[f.UserID] = fh, w, f.Timestamp
	}
	if w.WriteFrame(uint64(f.Timestamp-r.base[f.UserID]), f.Data) == nil {
		r.frames[f.UserID]++
	}
}

func (r *videoRecorder) count(user string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.frames[user]
}

func (r *videoRecorder) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range r.files {
		_ = f.Close()
	}
}

// TestVideoCamera: one Go client sends a VP8 IVF file as a camera stream
// at its frame rate, another records what it receives per user; the
// recording decodes with ffmpeg and its frame count is within a few
// percent of what was sent. Without and with DAVE.
func TestVideoCamera(t *testing.T) {
	src := makeIVF(t, 2, 30)
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	hdr, frames, err := ReadIVF(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if string(hdr.FourCC[:]) != "VP80" || len(frames) < 55 {
		t.Fatalf("ffmpeg made %q with %d frames", hdr.FourCC, len(frames))
	}
	for _, tc := range []struct {
		name   string
		noDAVE bool
	}{{"plain", true}, {"dave", false}} {
		t.Run(tc.name, func(t *testing.T) {
			r := newDAVERoom(t)
			rec := newVideoRecorder(t.TempDir())
			defer rec.close()
			join := func(user string, streams []voiceproto.Stream, onVideo func(VideoFrame)) *Conn {
				cr := r.srv.Creds(user, daveGuild, daveChan)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				c, err := Dial(ctx, Config{Endpoint: cr.Endpoint, Token: cr.Token, SessionID: cr.SessionID, UserID: user,
					GuildID: daveGuild, ChannelID: daveChan, RootCAs: r.srv.RootCAs, DisableDAVE: tc.noDAVE,
					VideoStreams: streams, OnVideoFrame: onVideo})
				if err != nil {
					t.Fatalf("join %s: %v", user, err)
				}
				t.Cleanup(func() { _ = c.Close() })
				return c
			}
			watcher := join("2002", nil, rec.onVideoFrame)
			camera := join("2001", []voiceproto.Stream{{Type: voiceproto.StreamVideo, RID: "100", Quality: 100,
				MaxResolution: &voiceproto.Resolution{Type: voiceproto.ResolutionFixed, Width: 320, Height: 240}}}, nil)
			if !tc.noDAVE {
				r.waitSynced(watcher, camera)
			}
			if len(camera.VideoStreams()) != 1 || camera.VideoStreams()[0].SSRC == 0 {
				t.Fatalf("allocated %+v", camera.VideoStreams())
			}
			if err := camera.StartVideo(0); err != nil {
				t.Fatal(err)
			}
			// The watcher maps the stream to the camera's user before the
			// first frame (op 12 relayed with user_id).
			testkit.Eventually(t, 5*time.Second, func() bool {
				watcher.dmu.Lock()
				defer watcher.dmu.Unlock()
				return watcher.videoUsers[camera.VideoStreams()[0].SSRC] == "2001"
			}, "op 12 relayed to the watcher")
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			sent, err := camera.PlayIVF(ctx, 0, hdr, frames)
			if err != nil {
				t.Fatal(err)
			}
			if el := time.Since(start); el < 1500*time.Millisecond {
				t.Fatalf("%d frames sent in %v: not paced at the file's rate", sent, el)
			}
			want := sent * 97 / 100
			testkit.Eventually(t, 5*time.Second, func() bool { return rec.count("2001") >= want },
				"recorded %d of %d frames", rec.count("2001"), sent)
			rec.close()
			st := watcher.Stats()
			t.Logf("sent %d frames; received %d (%d keyframes, %d gaps)", sent, st.VideoFramesReceived, st.VideoKeyframes, st.VideoGaps)
			if st.VideoKeyframes == 0 || camera.Stats().VideoFramesSent != uint64(sent) {
				t.Fatalf("stats: watcher %+v, camera %+v", st, camera.Stats())
			}
			if !tc.noDAVE {
				if d := camera.DAVE(); d.Encrypt.Encrypted < uint64(sent) {
					t.Fatalf("video frames not DAVE-encrypted: %+v", d.Encrypt)
				}
			}
			got := decodedFrames(t, filepath.Join(rec.dir, "2001.ivf"))
			if got < want || got > sent {
				t.Fatalf("ffmpeg decoded %d frames of the recording, sent %d", got, sent)
			}
		})
	}
}

func TestReadIVFRejects(t *testing.T) {
	var good bytes.Buffer
	w, _ := NewIVFWriter(&good, IVFHeader{FourCC: [4]byte{'V', 'P', '8', '0'}, Denominator: 30, Numerator: 1})
	_ = w.WriteFrame(0, []byte{1, 2, 3})
	if _, fs, err := ReadIVF(bytes.NewReader(good.Bytes())); err != nil || len(fs) != 1 {
		t.Fatalf("round trip: %d frames, %v", len(fs), err)
	}
	for name, b := range map[string][]byte{
		"short":     []byte("DKIF"),
		"magic":     append([]byte("RIFF"), good.Bytes()[4:]...),
		"truncated": good.Bytes()[:good.Len()-1],
		"zero rate": func() []byte { c := bytes.Clone(good.Bytes()); c[16] = 0; return c }(),
	} {
		if _, _, err := ReadIVF(bytes.NewReader(b)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
