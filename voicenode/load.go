package voicenode

import (
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/parleyhq/parley/internal/voicectl"
)

// LoadMeter measures the node's live load for its fleet registration:
// rooms and participants now, packets per second and CPU share since the
// previous Measure.
type LoadMeter struct {
	node *Node

	mu sync.Mutex // guards all following fields
	at time.Time
	// packets are the SFU's packets in and out, cpu the process's user and
	// system time, at the previous Measure.
	packets uint64
	cpu     time.Duration
}

// NewLoadMeter starts measuring from now.
func (s *Node) NewLoadMeter() *LoadMeter {
	m := &LoadMeter{node: s}
	m.at, m.packets, m.cpu = time.Now(), m.packetCount(), processCPU()
	return m
}

func (m *LoadMeter) packetCount() uint64 {
	st := m.node.sfu.Stats()
	return st.PacketsIn.Load() + st.PacketsOut.Load()
}

// processCPU is the process's user plus system time (the whole process:
// with chat in the same process, chat's share counts too).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Measure returns the load now: rooms and participants of the gateway,
// and the packets per second and CPU share (of all cores, 0..1) since the
// previous call.
func (m *LoadMeter) Measure() voicectl.Load {
	parts := m.node.Participants()
	rooms := map[string]struct{}{}
	for _, p := range parts {
		rooms[p.GuildID+"/"+p.ChannelID] = struct{}{}
	}
	now, packets, cpu := time.Now(), m.packetCount(), processCPU()
	m.mu.Lock()
	elapsed := now.Sub(m.at)
	l := voicectl.Load{Rooms: len(rooms), Participants: len(parts)}
	if elapsed > 0 {
		l.PacketsPerSecond = float64(packets-m.packets) / elapsed.Seconds()
		l.CPU = min(1, float64(cpu-m.cpu)/float64(elapsed)/float64(runtime.NumCPU()))
	}
	m.at, m.packets, m.cpu = now, packets, cpu
	m.mu.Unlock()
	return l
}
