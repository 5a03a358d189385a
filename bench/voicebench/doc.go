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
//	parley bench voice --webrtc-share 0.3 ... # 30% of participants join as browsers
//	parley bench voice --webrtc-compare --reps 5 ... # all-native vs all-WebRTC
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
// targets as checks; with web participants also the mix (mix) or the
// comparison (webrtc_compare). --cpuprofile runs the server in-process for a pprof
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
// # Web participants
//
// With --webrtc-share F (Config.WebRTCShare) a fraction F of the
// participants join in the web dialect (shared/docs/webrtc.md §1), spread
// evenly over the speakers and, apart, over the listeners (webRTCAt), so
// a mixed run has speakers and listeners of both kinds; F=0 is exactly the
// all-native load. A web participant is as lean as a native one: the
// gateway handshake is the same up to Ready, then Select Protocol carries
// an offer fragment (its own ICE credentials, the fingerprint of a
// self-signed certificate, Opus as payload type 111) and Session
// Description the answer; on its own raw socket towards the server's
// WebRTC address it runs ICE connectivity checks as the controlling agent
// (pion/stun messages), then a DTLS client handshake (pion/dtls over
// handshakeConn, the server's certificate checked against the answer's
// fingerprint), and derives two SRTP contexts. pion then lets go of the
// socket (handshakeConn.detach) and the event loops seal and open SRTP
// themselves, as the server's readers do; SRTCP from the server is counted
// and not opened. A mixed run reports its deliveries by direction
// (native/webrtc to native/webrtc) and checks that each direction lost
// nothing. The reflector is always loaded all-native.
//
// --webrtc-compare (Options.CompareWebRTC) runs the same rooms all-native
// and all-WebRTC in each repetition (default and minimum 5), before the
// reflector, and reports the medians of the server's CPU per forwarded
// packet of both and their ratio, checked against the target (at
// most 1.5).
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
