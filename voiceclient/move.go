package voiceclient

import (
	"context"
)

// Move follows a moved call: given the endpoint and token of a new
// VOICE_SERVER_UPDATE (the control plane moved the channel to another
// voice server, or the old one died), it joins the same voice session
// there with the same Config (so OnFrame, a Recorder and OnEvent carry
// on). The new connection continues this one's RTP sequence and
// timestamp and its Speaking state; what the server assigned (SSRC,
// mode, the SSRC-to-user map, the DAVE group) is the new server's.
//
// Make before break: this connection stays up (audio still flows here
// while the new server's handshake runs); the caller sends on the
// returned Conn from then on and closes this one. On error nothing
// changed.
func (c *Conn) Move(ctx context.Context, endpoint, token string) (*Conn, error) {
	cfg := c.cfg
	cfg.Endpoint, cfg.Token = endpoint, token
	nc, err := Dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	seq, ts := c.NextSeqTS()
	nc.send.mu.Lock()
	nc.send.seq, nc.send.ts = seq, ts
	nc.send.mu.Unlock()
	c.send.speakMu.Lock()
	speaking := c.send.speaking
	c.send.speakMu.Unlock()
	if speaking != 0 {
		if err := nc.SetSpeaking(speaking); err != nil {
			_ = nc.Close()
			return nil, err
		}
	}
	return nc, nil
}
