// Package voicebench is the load generator behind `parley bench voice`: it
// drives a Parley voice server (the sfu behind the signaling gateway) with
// many lean Discord-protocol participants, measures what the server costs per
// forwarded packet, the forwarding latency and the loss, and then offers the
// same load to a minimal UDP reflector so the SFU can be compared with a
// floor measured in the same run (shared/docs/performance.md §8).
//
// # Usage
//
//	parley bench voice --rooms 200 --size 10 --speakers 2 --duration 20s --json
//	parley bench voice --data-dir DIR ...   # load the server running on DIR
//
// Without --data-dir the command starts `parley serve --only voice` on a
// temporary data dir as a child process (GOMAXPROCS from
// --server-gomaxprocs, optional taskset pinning with --server-cpus and
// --generator-cpus) and `parley bench reflector` as a second child, loads
// the SFU, then the reflector (--reps alternates them), printing a progress
// line per second on stderr. The report (Report) carries forwarded_pps,
// cpu_us_per_forwarded_packet (split into user and system time),
// latency_us, loss, reflector_pps, ratio_to_reflector, the generator's own
// CPU, kernel socket drops, the configuration, the machine, and the issue's
// targets as checks. --cpuprofile runs the server in-process for a pprof
// profile instead.
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
// One event loop (Config.Loops, default 1) on a locked OS thread does
// everything per round: it sends every speaker packet that is due (speakers
// are spread evenly over the 20 ms frame interval; one sendto each, since a
// speaker's packets must leave from its own socket), then takes every ready
// socket from its own epoll instance with a zero timeout and drains it with
// recvmmsg, then sleeps until the next due packet or one quantum (default
// 200 µs), whichever is later. All of these are non-blocking syscalls or a
// sleep issued as raw syscalls, so the loop costs one wake-up per quantum
// whatever the packet rate, never hands its P back and forth with the Go
// scheduler, and never leaves a receiver asleep for the server's sendmmsg to
// wake (a cost the server would otherwise be charged for on loopback). No
// goroutine per socket or per packet.
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
