package signaling

import (
	"slices"

	"github.com/parleyhq/parley/voiceproto"
)

// maxConnectIDs bounds the user_ids of one op 11: a joiner of a room of
// 1,000 learns its members in a few messages of a few KiB each.
const maxConnectIDs = 100

// Pending announcements about one peer, per receiver.
const (
	pendConnect uint8 = 1 << iota // op 11 with the peer's user id
	pendSpeak                     // op 5 with the peer's SSRC and flags
	pendVideo                     // op 12 with the peer's streams
)

// announcements are the news a receiver is owed about its room: who
// joined (op 11), which SSRC each peer sends and its speaking flags (op 5)
// and who left (op 13). They are not queued as messages: the receiver's
// connection writer produces them one at a time, when nothing else is
// queued (session.nextAnnouncement), so a join costs every member O(1)
// pending state instead of queued frames, joins that land before the
// writer drains share one op 11, and a joiner's introduction to a room of
// any size is paced by its own reading instead of overflowing the bounded
// out queue. The lists keep the order of events; an entry whose bit in
// state was cleared since is stale and skipped. All fields are guarded by
// the mu of the receiver's session.
type announcements struct {
	state   map[*session]uint8 // pending bits by peer
	connect []*session         // peers owed an op 11, in order
	speak   []*session         // peers owed an op 5, in order
	video   []*session         // peers owed an op 12, in order
	gone    []voiceproto.ID    // users owed an op 13, in order
}

// mark adds the pending bits what for peer p.
func (a *announcements) mark(p *session, what uint8) {
	if a.state == nil {
		a.state = map[*session]uint8{}
	}
	old := a.state[p]
	a.state[p] = old | what
	if what&pendConnect != 0 && old&pendConnect == 0 {
		a.connect = append(a.connect, p)
	}
	if what&pendSpeak != 0 && old&pendSpeak == 0 {
		a.speak = append(a.speak, p)
	}
	if what&pendVideo != 0 && old&pendVideo == 0 {
		a.video = append(a.video, p)
	}
	a.compact()
}

// leave forgets what is pending about p and, if tell and the receiver was
// told p joined, owes it an op 13. A peer that leaves before its op 11 was
// written costs the receiver nothing.
func (a *announcements) leave(p *session, tell bool) {
	old, pending := a.state[p]
	delete(a.state, p)
	if tell && !(pending && old&pendConnect != 0) {
		a.gone = append(a.gone, voiceproto.ID(p.user))
	}
	a.compact()
}

// clear unsets bits for p; the list entries become stale.
func (a *announcements) clear(p *session, bits uint8) {
	if st := a.state[p] &^ bits; st != 0 {
		a.state[p] = st
	} else {
		delete(a.state, p)
	}
}

// compact drops stale entries once they outnumber the live ones, so a
// receiver that does not drain (detached, awaiting resume) while its room
// churns holds memory in proportion to the room, not to the churn.
func (a *announcements) compact() {
	limit := 2*len(a.state) + 64
	if len(a.connect) > limit {
		a.connect = a.live(a.connect, pendConnect)
	}
	if len(a.speak) > limit {
		a.speak = a.live(a.speak, pendSpeak)
	}
	if len(a.video) > limit {
		a.video = a.live(a.video, pendVideo)
	}
}

// live keeps the first entry of each peer whose bit is set.
func (a *announcements) live(list []*session, bit uint8) []*session {
	seen := make(map[*session]bool, len(list))
	return slices.DeleteFunc(list, func(p *session) bool {
		if a.state[p]&bit == 0 || seen[p] {
			return true
		}
		seen[p] = true
		return false
	})
}

// nextMembership returns the next op 13 or op 11 owed: the op 13s first
// (a user who left and came back with a new session must be told in that
// order), then op 11 with up to maxConnectIDs joiners.
func (a *announcements) nextMembership() (voiceproto.Op, any, bool) {
	if len(a.gone) > 0 {
		id := a.gone[0]
		a.gone = a.gone[1:]
		return voiceproto.OpClientDisconnect, voiceproto.ClientDisconnect{UserID: id}, true
	}
	ids := make([]voiceproto.ID, 0, min(len(a.connect), maxConnectIDs))
	for len(a.connect) > 0 && len(ids) < maxConnectIDs {
		p := a.connect[0]
		a.connect = a.connect[1:]
		if a.state[p]&pendConnect != 0 {
			a.clear(p, pendConnect)
			ids = append(ids, voiceproto.ID(p.user))
		}
	}
	if len(ids) > 0 {
		return voiceproto.OpClientsConnect, voiceproto.ClientsConnect{UserIDs: ids}, true
	}
	return 0, nil, false
}

// next returns the next announcement for a receiver of dialect d: the
// membership changes (nextMembership), then one op 5, then one op 12 (a
// peer's streams, after its SSRC is known).
func (a *announcements) next(d voiceproto.Dialect) (voiceproto.Op, any, bool) {
	if op, m, ok := a.nextMembership(); ok {
		return op, m, true
	}
	for len(a.speak) > 0 {
		p := a.speak[0]
		a.speak = a.speak[1:]
		if a.state[p]&pendSpeak != 0 {
			a.clear(p, pendSpeak)
			return voiceproto.OpSpeaking, p.speakingFor(d), true
		}
	}
	for len(a.video) > 0 {
		p := a.video[0]
		a.video = a.video[1:]
		if a.state[p]&pendVideo != 0 {
			a.clear(p, pendVideo)
			if v, ok := p.videoOp12(); ok {
				return voiceproto.OpVideo, v, true
			}
		}
	}
	if len(a.state) == 0 { // release the drained lists' arrays
		*a = announcements{state: a.state}
	}
	return 0, nil, false
}
