package voiceclient

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parleyhq/parley/e2ee/dave"
	"github.com/parleyhq/parley/voiceproto"
)

// EventDAVE is reported through Config.OnEvent when the DAVE state changes
// (a new epoch, a transition executed, a downgrade); read Conn.DAVE.
const EventDAVE = "dave"

// DAVEState is a snapshot of the connection's DAVE (E2EE) participant.
type DAVEState struct {
	// Enabled: the client offered DAVE (Config.DisableDAVE unset).
	Enabled bool `json:"enabled"`
	// ParticipantState: the protocol version in effect (0 once the server
	// said so or a downgrade executed), whether the client is in the
	// room's MLS group (its Opus is encrypted while the version is 1), the
	// epoch and its privacy code, the members and the transition counters
	// (Pending: prepared transitions awaiting their op 22; this client
	// still sends with the previous epoch's key meanwhile).
	dave.ParticipantState
	// Encrypt and Decrypt are the frame counters.
	Encrypt dave.EncryptorStats `json:"encrypt"`
	Decrypt dave.DecryptorStats `json:"decrypt"`
	// Undecryptable counts DAVE frames dropped from senders the client had
	// no key for (held for a while first, see dave.FrameSession.Decrypt).
	Undecryptable uint64 `json:"undecryptable"`
	// Frames are the media side's counters, including frames held for a
	// sender's next key and released or dropped.
	Frames dave.FrameStats `json:"frames"`
}

// daveSendWait bounds how long a send waits for DAVE to settle (see
// daveSession.encrypt) before it fails with ErrDAVENotReady. Settling takes
// a few gateway round trips, or the gateway's transition timeout (2 s)
// when a member does not answer.
const daveSendWait = 5 * time.Second

// daveSession is the client's DAVE participant: the MLS side
// (dave.Participant, driven by the WebSocket reader under mu) and the
// media side (dave.FrameSession, its own lock), which the sender encrypts
// and the UDP reader decrypts through. The media path never takes mu, so
// MLS work (milliseconds) never stalls it.
type daveSession struct {
	c      *Conn
	self   uint64
	frames *dave.FrameSession

	mu sync.Mutex // guards p; never taken by the sender or the UDP reader
	p  *dave.Participant

	// cmu guards changed, closed and replaced whenever the state that
	// decides how frames are sent may have changed (notify); senders wait
	// on it.
	cmu     sync.Mutex
	changed chan struct{} // +checklocks:cmu

	encBuf []byte // the sender's output buffer (the sender serialises encrypt)
}

func newDAVESession(c *Conn) (*daveSession, error) {
	self, err := strconv.ParseUint(c.cfg.UserID, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: DAVE needs a numeric user id (got %q)", ErrConfig, c.cfg.UserID)
	}
	ch, err := strconv.ParseUint(c.cfg.ChannelID, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: DAVE needs a numeric channel id (got %q)", ErrConfig, c.cfg.ChannelID)
	}
	d := &daveSession{c: c, self: self, frames: dave.NewFrameSession(),
		encBuf: make([]byte, 0, MaxOpusSize+dave.MaxOverhead+16), changed: make(chan struct{})}
	d.p, err = dave.NewParticipant(dave.ParticipantConfig{UserID: self, ChannelID: ch, Keys: d.frames,
		Logger: c.log, Announced: c.announced})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// announced reports whether the server announced user in this channel
// (op 11/13/5), or user is this client.
func (c *Conn) announced(user uint64) bool {
	id := strconv.FormatUint(user, 10)
	if id == c.cfg.UserID {
		return true
	}
	c.dmu.Lock()
	defer c.dmu.Unlock()
	_, ok := c.members[id]
	return ok
}

// DAVE returns the connection's DAVE state.
func (c *Conn) DAVE() DAVEState {
	d := c.dave
	if d == nil {
		return DAVEState{}
	}
	d.mu.Lock()
	ps := d.p.State()
	d.mu.Unlock()
	fs := d.frames.Stats()
	return DAVEState{Enabled: true, ParticipantState: ps, Encrypt: fs.Encrypt, Decrypt: fs.Decrypt,
		Undecryptable: fs.Undecryptable, Frames: fs}
}

// PairwiseCode returns the 45-digit verification code this client and
// user compare out of band (dave.md §8; davey getVerificationCode). It
// runs scrypt (tens of milliseconds).
func (c *Conn) PairwiseCode(user string) (string, error) {
	d := c.dave
	if d == nil {
		return "", ErrNoDAVE
	}
	uid, err := strconv.ParseUint(user, 10, 64)
	if err != nil {
		return "", fmt.Errorf("%w: user %q", ErrNoDAVE, user)
	}
	d.mu.Lock()
	mine, theirs, ok := d.p.MemberKeys(uid)
	d.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("%w: %s is not in the group", ErrNoDAVE, user)
	}
	return dave.PairwiseVerificationCode(mine, d.self, theirs, uid)
}

// sessionDescription starts the participant at op 4's version.
func (d *daveSession) sessionDescription(version uint16) {
	d.mu.Lock()
	out, changed := d.p.SessionDescription(version)
	d.mu.Unlock()
	d.after(out, changed)
}

// handleJSON processes ops 21, 22 and 24.
func (d *daveSession) handleJSON(op voiceproto.Op, raw json.RawMessage) {
	d.mu.Lock()
	out, changed, err := d.p.HandleJSON(dave.Opcode(op), raw)
	d.mu.Unlock()
	if err != nil {
		d.c.stats.badMessages.Add(1)
		return
	}
	d.after(out, changed)
}

// handleBinary processes ops 25, 27, 29 and 30.
func (d *daveSession) handleBinary(msg dave.BinaryMessage) {
	d.mu.Lock()
	out, changed := d.p.HandleBinary(msg)
	d.mu.Unlock()
	d.after(out, changed)
}

// after sends the participant's messages, in order, wakes waiting senders
// and reports a change.
func (d *daveSession) after(out []dave.Outgoing, changed bool) {
	for _, o := range out {
		var err error
		if o.Binary != nil {
			var b []byte
			if b, err = dave.AppendClientFrame(nil, o.Binary); err == nil {
				err = d.c.writeMessage(websocket.BinaryMessage, b)
			}
		} else {
			err = d.c.writeOp(voiceproto.Op(o.JSON), o.Payload)
		}
		if err != nil {
			d.c.log.Debug("dave: write", "err", err)
		}
	}
	d.notify()
	if changed {
		d.c.event(Event{Type: EventDAVE})
	}
}

// notify wakes senders waiting for the DAVE state to settle (a key
// changed, or a member left, so this client may now be alone).
func (d *daveSession) notify() {
	d.cmu.Lock()
	close(d.changed)
	d.changed = make(chan struct{})
	d.cmu.Unlock()
}

// wait returns the channel closed by the next notify.
func (d *daveSession) wait() <-chan struct{} {
	d.cmu.Lock()
	defer d.cmu.Unlock()
	return d.changed
}

// encrypt returns frame as it goes into RTP: DAVE-encrypted with this
// client's sender key, or as is when the protocol version is 0, for the
// Opus silence frame, and while no one else is in the room. The result is
// valid until the next call; the sender serialises calls. It takes only
// the FrameSession's lock, never the participant's.
//
// In between (protocol version 1 without a sender key: joining or
// re-creating a group, recovering after op 31, or between this client's
// op 23 and the op 22 that installs its key) it waits, up to daveSendWait,
// rather than send a frame no receiver could use: the SFU drops
// transport-only frames once the room's group is established, and a
// receiver cannot decrypt a key it has not been given. libdave fails such
// frames (no key ratchet: encryption failure) and D++ reports voice ready
// only once its first transition is ready; waiting keeps every frame.
func (d *daveSession) encrypt(frame []byte) ([]byte, error) {
	return d.encryptCodec(dave.CodecOpus, frame)
}

// encryptCodec is encrypt for a frame of codec (its clear ranges, dave.md
// §7).
func (d *daveSession) encryptCodec(codec dave.Codec, frame []byte) ([]byte, error) {
	var timer *time.Timer
	for {
		wait := d.wait() // before the check, so no change is missed
		out, st, err := d.frames.Encrypt(d.encBuf[:0], codec, frame, !d.c.hasMembers())
		switch st {
		case dave.SendPlain:
			return frame, nil
		case dave.SendEncrypted:
			if err == nil {
				d.encBuf = out[:0]
			}
			return out, err
		}
		if timer == nil {
			d.c.stats.daveWaits.Add(1)
			timer = time.NewTimer(daveSendWait)
			defer timer.Stop()
		}
		select {
		case <-wait:
		case <-d.c.closing:
			return nil, ErrClosed
		case <-timer.C:
			d.c.stats.daveNotReady.Add(1)
			return nil, fmt.Errorf("%w after %v", ErrDAVENotReady, daveSendWait)
		}
	}
}

// settled reports whether a frame sent now goes out without waiting (see
// encrypt), and otherwise returns the channel that closes on the next
// state change.
func (d *daveSession) settled() (bool, <-chan struct{}) {
	wait := d.wait()
	if d.frames.CanSend(!d.c.hasMembers()) {
		return true, nil
	}
	return false, wait
}

// WaitDAVE waits until media sent now goes out without waiting for DAVE:
// the protocol version is 0, or this client holds its sender key for the
// room's group, or no one else is in the room. It returns at once when
// DAVE is off; ErrClosed if the connection ends first. Dial waits for it
// (up to 5 s), and SendOpus waits the same way on its own.
func (c *Conn) WaitDAVE(ctx context.Context) error {
	if c.dave == nil {
		return nil
	}
	for {
		ok, wait := c.dave.settled()
		if ok {
			return nil
		}
		select {
		case <-wait:
		case <-c.closing:
			return ErrClosed
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ErrDAVENotReady, ctx.Err())
		}
	}
}

// decryptLocked passes f through DAVE to OnFrame (c.dmu held): the
// FrameSession emits once per frame, in order, possibly later (a frame
// held for its sender's next key goes out with that sender's next frame,
// or by expireDAVE), so each sender's frames wait in c.daveQueue for their
// emit. Frames the client cannot decrypt never reach OnFrame.
func (c *Conn) decryptLocked(f Frame) {
	uid, _ := strconv.ParseUint(f.UserID, 10, 64) // 0 (no key) when not numeric
	c.daveQueue[uid] = append(c.daveQueue[uid], f)
	c.dave.frames.Decrypt(uid, f.Opus, func(plain []byte, ok bool) { c.daveEmitLocked(uid, plain, ok) })
}

// daveEmitLocked answers the oldest frame of uid waiting in c.daveQueue
// with a FrameSession emit: delivered with plain, or counted dropped.
func (c *Conn) daveEmitLocked(uid uint64, plain []byte, ok bool) {
	q := c.daveQueue[uid]
	if len(q) == 0 {
		return
	}
	g := q[0]
	n := copy(q, q[1:])
	q[n] = Frame{}
	if n == 0 {
		delete(c.daveQueue, uid)
	} else {
		c.daveQueue[uid] = q[:n]
	}
	if !ok {
		c.stats.daveDropped.Add(1)
		if r := c.videoRecv[g.SSRC]; g.video && r != nil {
			r.lostFrame() // the frames after it need a new keyframe
		}
		return
	}
	g.Opus = plain
	c.deliverLocked(g)
}

// daveExpireEvery is how often the UDP reader lets DAVE release or drop
// the frames held for senders that went quiet (expireDAVE): well within
// the hold time, so a held frame lives at most about that long.
const daveExpireEvery = dave.DefaultHoldTime / 2

// expireDAVE emits what the FrameSession holds for senders that went
// quiet (dave.FrameSession.Expire: frames their new key opens, frames
// whose hold time is over or that the bound across senders dropped),
// each answering its frame in c.daveQueue.
func (c *Conn) expireDAVE() {
	if c.dave == nil {
		return
	}
	c.dmu.Lock()
	defer c.dmu.Unlock()
	c.dave.frames.Expire(c.daveEmitLocked)
}

// daveMax is the max_dave_protocol_version this client identifies with.
func (c *Conn) daveMax() int {
	if c.dave == nil {
		return 0
	}
	return 1
}

// handleBinary processes a server binary frame (DAVE ops 25, 27, 29, 30).
// Its u16 sequence number counts in the v8 sequence, so seq_ack follows it
// (widened against the last JSON seq).
func (c *Conn) handleBinary(data []byte) {
	seq, msg, err := dave.DecodeServerFrame(data)
	if err != nil {
		c.stats.badMessages.Add(1)
		c.log.Debug("voice gateway: bad binary frame", "err", err)
		return
	}
	last := c.seq.Load()
	s := max(last, 0)&^0xFFFF | int64(seq)
	if s < last-1<<15 {
		s += 1 << 16
	}
	c.seq.Store(s)
	if c.dave == nil {
		c.log.Debug("voice gateway: DAVE frame while DAVE is off", "op", msg.Opcode().String())
		return
	}
	c.dave.handleBinary(msg)
}

// writeMessage sends one raw WebSocket message on the current connection.
func (c *Conn) writeMessage(typ int, b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	select {
	case <-c.closing:
		return ErrClosed
	default:
	}
	if c.ws == nil {
		return ErrClosed
	}
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteMessage(typ, b)
}
