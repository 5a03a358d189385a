// Package voicebench is the load generator behind `parley bench voice`: it
// drives a Parley voice server (the sfu behind the signaling gateway) with
// many lean Discord-protocol participants, measures what the server costs per
// forwarded packet, the forwarding latency and the loss, and then offers the
// same load to a minimal UDP reflector so the SFU can be compared with a
// floor measured in the same run (shared/docs/performance.md §8).
//
// # Participants
//
// A participant is not a full voiceclient.Conn: it is one WSS connection
// (gorilla/websocket) for Hello, Identify, Select Protocol, Speaking and
// heartbeats, plus one UDP socket created with raw syscalls so that Go's
// netpoller never sees the media traffic. Against the reflector there is no
// WebSocket: a 16-byte join datagram registers the socket in its room.
//
// # Data path of the generator
//
//   - One pacer goroutine sends every speaker's packets: speakers are spread
//     evenly over the 20 ms frame interval and the pacer sleeps in quanta
//     (default 200 µs) with clock_nanosleep on a locked OS thread, so the
//     offered load has no 20 ms bursts and costs one sendto per packet (a
//     speaker's packets leave from its own socket, so sendmmsg cannot batch
//     across speakers).
//   - A few receive loops (one per CPU by default) each own an epoll instance
//     over a share of the sockets and drain ready sockets with recvmmsg. No
//     goroutine per socket or per packet.
//
// # What is measured
//
// Each payload is a valid Opus TOC byte (0xFC) followed by the send time
// (wall-clock ns) and the sender's index. Receivers decrypt every packet (with
// their own key behind the SFU, with the sender's key behind the reflector,
// which forwards bytes unchanged), and take two receive times: the kernel's
// SO_TIMESTAMPNS stamp (latency_us: what the server and loopback add) and the
// time the receive loop saw the packet (latency_app_us: plus the generator's
// own scheduling delay).
//
// The measured window is fixed before the first packet is sent: a packet
// counts if its embedded send time falls inside it, both when it is sent
// (expected deliveries = size-1 per packet) and when it is received, so
// packets in flight at the edges are neither lost nor double counted. After
// the window the pacer keeps going for a short drain period.
//
// Server CPU is read from the kernel for the server's process: the sum of
// /proc/PID/task/*/schedstat (ns on CPU), falling back to /proc/PID/stat
// utime+stime, sampled at the window's edges. The generator's CPU comes from
// getrusage(RUSAGE_SELF) over the same window. With an in-process server (the
// tests) both numbers are the whole process and the report says so.
//
// # The reflector
//
// Reflector is a raw UDP relay with the SFU's batching (recvmmsg/sendmmsg
// through golang.org/x/net/ipv4 ReadBatch/WriteBatch, GOMAXPROCS readers,
// 64-datagram batches) and nothing else: no decryption, no munging, the same
// bytes sent to every other member of a static room. `parley bench reflector`
// runs it as a child process. ratio_to_reflector compares packets forwarded
// per CPU-second (the inverse of µs per packet), since at a fixed offered load
// below saturation both forward the same packets per second.
package voicebench
