package sfu

import (
	"net"
	"net/netip"
	"slices"
	"sync"
)

// Where a participant's media goes (voice-protocol.md §3).
//
// SSRCs are announced to the whole room, and IP discovery requests are not
// authenticated, so a discovery request alone must never decide where a
// client's media goes: anyone who knows an SSRC could redirect a listener's
// audio with one spoofed packet. The rules:
//
//  1. An authenticated packet (it decrypted under the client's key) sets
//     the address to its source, and may move it later (a NAT rebinding).
//  2. Before that, the address the client declared in Select Protocol
//     (over the authenticated gateway) is used once a discovery request
//     from exactly that address was answered: the declaration names the
//     address, the discovery shows it is the client's and reachable.
//     Listeners that never send media are covered by this.
//  3. Discovery requests before Select Protocol are answered and their
//     sources remembered (a few); after it, only requests from the declared
//     (or proven) address are answered; others are counted as spoofed.
//
// A client whose NAT rewrites its address differently for discovery and
// media, or that declares another address, gets media once it sends one
// authenticated packet (every client sends audio or RTCP sooner or later;
// @discordjs/voice, disgo and discordgo declare what discovery told them).

// maxDiscoverySources bounds the discovery sources remembered before
// Select Protocol.
const maxDiscoverySources = 8

// discovery is a participant's discovery bookkeeping.
type discovery struct {
	mu       sync.Mutex       // guards the following
	declared netip.AddrPort   // from Select Protocol; invalid until then
	sources  []netip.AddrPort // answered before Select Protocol, oldest first
}

// acceptDiscovery decides whether to answer a discovery request from src,
// and records it.
func (p *Participant) acceptDiscovery(src netip.AddrPort) bool {
	src = unmap(src)
	if p.addrProven.Load() {
		cur := p.addr.Load()
		return cur != nil && unmap(cur.AddrPort()) == src
	}
	d := &p.disc
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.declared.IsValid() {
		if src != d.declared {
			return false
		}
		p.setUnprovenAddr(src)
		return true
	}
	if !slices.Contains(d.sources, src) {
		if len(d.sources) == maxDiscoverySources {
			d.sources = slices.Delete(d.sources, 0, 1)
		}
		d.sources = append(d.sources, src)
	}
	return true
}

// declare records the address from Select Protocol and uses it at once if
// a discovery request from it was already answered.
func (p *Participant) declare(addr string) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || ap.Port() == 0 {
		return
	}
	ap = unmap(ap)
	d := &p.disc
	d.mu.Lock()
	defer d.mu.Unlock()
	d.declared = ap
	if slices.Contains(d.sources, ap) && !p.addrProven.Load() {
		p.setUnprovenAddr(ap)
	}
	d.sources = nil
}

// setUnprovenAddr sets the media address under rule 2 unless an
// authenticated packet has set it meanwhile.
func (p *Participant) setUnprovenAddr(ap netip.AddrPort) {
	if !p.addrProven.Load() {
		p.addr.Store(net.UDPAddrFromAddrPort(ap))
	}
}

// setAddr records where p's authenticated packets come from (rule 1).
func (p *Participant) setAddr(a *net.UDPAddr) {
	if !p.addrProven.Load() {
		p.addrProven.Store(true)
	}
	if cur := p.addr.Load(); cur != nil && cur.Port == a.Port && cur.IP.Equal(a.IP) {
		return
	}
	cp := *a
	cp.IP = slices.Clone(a.IP)
	p.addr.Store(&cp)
}

func unmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
