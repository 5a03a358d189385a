package interop

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/ogg"
	"github.com/parleyhq/parley/internal/testkit"
)

// TestVoiceTalkSpurts: a Parley Go client talks twice with a pause (two
// talk-spurts, each ended by five silence frames and Speaking off). Every
// kind of receiver must get both spurts' frames in order: this is where a
// server may set the RTP marker (disgo drops packets whose byte 1 is not
// exactly 0x78), suppress silence, or renumber across the gap.
func TestVoiceTalkSpurts(t *testing.T) {
	env := startVoice(t, true)
	const (
		spkUser = "300000000000000001"
		goUser  = "300000000000000002"
		djsUser = "300000000000000003"
		dsgUser = "300000000000000004"
		dgoUser = "300000000000000005"
	)
	spk := env.joinGoNoDAVE(t, spkUser, "")
	g := env.joinGoNoDAVE(t, goUser, "")
	djs := startDJS(t, env, djsUser, nil, []string{spkUser}, "")
	dsg := startDisgo(t, env, dsgUser, nil, "")
	dgo := joinDiscordgo(t, env, dgoUser)
	djs.wait("ready", 20*time.Second)
	dsg.wait("ready", 20*time.Second)

	frames := ogg.SyntheticOpus(60, 51)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := spk.conn.PlayFrames(ctx, frames[:30]); err != nil {
		t.Fatal(err)
	}
	// The pause between the two talk-spurts is real-time media (what the
	// test is about), not synchronisation.
	time.Sleep(400 * time.Millisecond)
	if err := spk.conn.PlayFrames(ctx, frames[30:]); err != nil {
		t.Fatal(err)
	}

	for _, r := range []struct {
		name string
		log  *frameLog
	}{{"discordjs", djs.got}, {"disgo", dsg.got}} {
		r.log.waitAudio(spkUser, len(frames), 3*time.Second)
		checkFrames(t, fmt.Sprintf("go -> %s", r.name), r.log.from(spkUser), frames)
	}
	g.got.waitAudio(spkUser, len(frames), 3*time.Second)
	checkGoFrames(t, "go -> go", g, spkUser, frames)
	testkit.Poll(3*time.Second, func() bool { // checkFrames says what is missing
		return len(nonSilence(dgo.got.from(fmt.Sprintf("ssrc:%d", spk.conn.SSRC())))) >= len(frames)
	})
	checkFrames(t, "go -> discordgo", dgo.from(t, spkUser), frames)

	// Sequence numbers stay contiguous across the pause; the timestamp
	// jumps by at least the pause (a jitter buffer needs both).
	if err := contiguous(g.got.frames(spkUser)); err != nil {
		t.Errorf("go receiver: %v", err)
	}
	for _, d := range []*driver{djs, dsg} {
		d.send("leave")
		d.wait("left", 5*time.Second)
	}
}
