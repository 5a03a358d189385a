package interop

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/ogg"
	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/voiceproto"
)

// TestVoiceRoomAllClients puts @discordjs/voice, disgo, discordgo and two
// Parley Go clients (one on AES-GCM, one on XChaCha20) in one channel of a
// server that also offers the legacy mode. Everyone talks at once; everyone
// must receive every other participant's frames byte for byte and in order.
func TestVoiceRoomAllClients(t *testing.T) {
	env := startVoice(t, true)
	const (
		go1User  = "100000000000000031"
		go2User  = "100000000000000032"
		djsUser  = "100000000000000033"
		dsgUser  = "100000000000000034"
		dgoUser  = "100000000000000035"
		nFrames  = 100
		listenTO = 5 * time.Second
	)
	users := []string{go1User, go2User, djsUser, dsgUser, dgoUser}
	sent := map[string][][]byte{}
	for i, u := range users {
		sent[u] = ogg.SyntheticOpus(nFrames, uint64(300+i))
	}
	others := func(me string) []string {
		var out []string
		for _, u := range users {
			if u != me {
				out = append(out, u)
			}
		}
		return out
	}

	go1 := env.joinGoNoDAVE(t, go1User, "")
	go2 := env.joinGoNoDAVE(t, go2User, voiceproto.ModeXChaCha20RTPSize)
	djs := startDJS(t, env, djsUser, sent[djsUser], others(djsUser), "")
	dsg := startDisgo(t, env, dsgUser, sent[dsgUser], "")
	dgo := joinDiscordgo(t, env, dgoUser)
	if ready := djs.wait("ready", 20*time.Second); ready.Mode != voiceproto.ModeAES256GCMRTPSize {
		t.Errorf("discordjs selected %q", ready.Mode)
	}
	if ready := dsg.wait("ready", 20*time.Second); ready.Mode != voiceproto.ModeAES256GCMRTPSize {
		t.Errorf("disgo selected %q", ready.Mode)
	}
	if go2.conn.Mode() != voiceproto.ModeXChaCha20RTPSize {
		t.Errorf("go2 mode %q", go2.conn.Mode())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	play := func(name string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				errs <- fmt.Errorf("%s play: %w", name, err)
			}
		}()
	}
	djs.send("play")
	dsg.send("play")
	play("go1", func() error { return go1.conn.PlayFrames(ctx, sent[go1User]) })
	play("go2", func() error { return go2.conn.PlayFrames(ctx, sent[go2User]) })
	play("discordgo", func() error { return dgo.play(ctx, sent[dgoUser]) })
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	djs.wait("played", 15*time.Second)
	dsg.wait("played", 15*time.Second)

	// Receivers keyed by user id.
	for _, g := range []*goPeer{go1, go2} {
		for _, tx := range others(g.user) {
			g.got.waitAudio(tx, nFrames, listenTO)
			checkGoFrames(t, fmt.Sprintf("%s -> %s", name(tx), name(g.user)), g, tx, sent[tx])
		}
	}
	for _, d := range []*driver{djs, dsg} {
		for _, tx := range others(d.user) {
			d.got.waitAudio(tx, nFrames, listenTO)
			checkFrames(t, fmt.Sprintf("%s -> %s", name(tx), name(d.user)), d.got.from(tx), sent[tx])
		}
	}
	// discordgo's frames are keyed by SSRC, resolved through its op 5 map.
	testkit.Poll(listenTO, func() bool { // the checks below say what is missing
		for _, tx := range others(dgoUser) {
			dgo.mu.Lock()
			n := 0
			for ssrc, u := range dgo.ssrcs {
				if u == tx {
					n += len(nonSilence(dgo.got.from(fmt.Sprintf("ssrc:%d", ssrc))))
				}
			}
			dgo.mu.Unlock()
			if n < nFrames {
				return false
			}
		}
		return true
	})
	for _, tx := range others(dgoUser) {
		checkFrames(t, fmt.Sprintf("%s -> discordgo", name(tx)), dgo.from(t, tx), sent[tx])
	}
	for _, d := range []*driver{djs, dsg} {
		d.send("leave")
		d.wait("left", 5*time.Second)
	}
}

func name(user string) string {
	switch user[len(user)-1] {
	case '1':
		return "go1"
	case '2':
		return "go2(xchacha)"
	case '3':
		return "discordjs"
	case '4':
		return "disgo"
	case '5':
		return "discordgo"
	}
	return user
}
