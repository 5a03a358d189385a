package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/ogg"
)

// TestVoiceJoinPlaysAndRecords runs `parley voice join` twice against
// `parley serve`: one plays an Ogg Opus file, the other records it; the
// recording holds the same Opus packets. With DAVE on both clients print
// the same epoch and voice privacy code.
func TestVoiceJoinPlaysAndRecords(t *testing.T) {
	for _, tc := range []struct {
		name           string
		e2ee, listener bool // listener: the listener joins with --webrtc
	}{{"transport", false, false}, {"dave", true, false}, {"webrtc listener", true, true}} {
		t.Run(tc.name, func(t *testing.T) { testVoiceJoin(t, tc.e2ee, tc.listener) })
	}
}

func testVoiceJoin(t *testing.T, e2ee, webrtcListener bool) {
	dir := t.TempDir()
	startServe(t, dir, "--only", "voice")
	credFile := func(user string) string {
		c, err := issueVoiceCredentials(dir, "", user, "10", "20", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(c)
		p := filepath.Join(dir, user+".json")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	frames := ogg.SyntheticOpus(50, 5)
	song := filepath.Join(dir, "song.ogg")
	if err := ogg.WriteFile(song, frames); err != nil {
		t.Fatal(err)
	}
	recDir := filepath.Join(dir, "rec")
	extra := []string{"--data-dir", dir}
	if !e2ee {
		extra = append(extra, "--no-e2ee")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	largs := append([]string{"voice", "join", "--credentials", credFile("202"), "--record", recDir, "--duration", "8s"}, extra...)
	if webrtcListener {
		largs = append(largs, "--webrtc")
	}
	listener := parleyCmd(ctx, largs...)
	var lout bytes.Buffer
	stdout, _ := listener.StdoutPipe()
	listener.Stderr = os.Stderr
	if err := listener.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		lout.WriteString(lines.Text() + "\n")
		if strings.Contains(lines.Text(), `"event":"joined"`) {
			break
		}
	}
	go func() {
		for lines.Scan() {
			lout.WriteString(lines.Text() + "\n")
		}
	}()

	player := parleyCmd(ctx, append([]string{"voice", "join", "--credentials", credFile("101"), "--play", song}, extra...)...)
	player.Stderr = os.Stderr
	pout, err := player.Output()
	if err != nil {
		t.Fatalf("player: %v\n%s", err, pout)
	}
	if err := listener.Wait(); err != nil {
		t.Fatalf("listener: %v\n%s", err, lout.String())
	}
	got, err := ogg.ReadFile(filepath.Join(recDir, "101.ogg"))
	if err != nil {
		t.Fatalf("recording: %v\nlistener said:\n%s", err, lout.String())
	}
	var voice [][]byte
	for _, f := range got {
		if !ogg.IsSilence(f) {
			voice = append(voice, f)
		}
	}
	if len(voice) != len(frames) {
		t.Fatalf("recorded %d voice frames, want %d", len(voice), len(frames))
	}
	for i := range frames {
		if !bytes.Equal(voice[i], frames[i]) {
			t.Fatalf("frame %d differs", i)
		}
	}
	if e2ee {
		code := func(out string) string {
			var last string
			for _, l := range strings.Split(out, "\n") {
				var ev struct {
					Event       string `json:"event"`
					PrivacyCode string `json:"privacy_code"`
					DAVE        *struct {
						PrivacyCode string `json:"privacy_code"`
					} `json:"dave"`
				}
				if json.Unmarshal([]byte(l), &ev) != nil {
					continue
				}
				if ev.Event == "summary" && ev.DAVE != nil {
					last = ev.DAVE.PrivacyCode
				}
			}
			return last
		}
		a, b := code(string(pout)), code(lout.String())
		if a == "" || a != b {
			t.Fatalf("voice privacy codes %q and %q; player said:\n%s\nlistener said:\n%s", a, b, pout, lout.String())
		}
	}
}
