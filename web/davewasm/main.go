//go:build js && wasm

// Command davewasm is the browser's DAVE module (shared/docs/webrtc.md §4):
// the same Go code as the native client's participant and frame crypto
// (e2ee/dave), compiled with GOOS=js GOARCH=wasm into web/dave/dave.wasm
// by `make web`. One module serves both Web Workers: the MLS worker uses
// the participant exports (mls_*), the media worker the frame and key
// exports (frame_*, key_*).
//
// Calls go through //go:wasmexport functions that take and return plain
// numbers; bytes travel through two buffers in the module's memory:
//
//   - the input buffer: JS calls dave_in(n) for a pointer to at least n
//     bytes, writes its input there, then calls the export with n;
//   - the output: after a call, hdr[0] is the pointer and hdr[1] the
//     length of what the call produced (dave_hdr returns hdr's address).
//
// Go's memory may grow during any call, which replaces the ArrayBuffer
// behind it: JS re-reads memory.buffer after each call. Buffers are Go
// heap objects that the module keeps referenced, and Go's collector does
// not move objects, so a pointer stays valid until the next dave_in or
// export call.
//
// An export must not block (no channel waits, no JS callbacks): the module
// runs only while JS calls it. main starts the runtime and waits forever.
//
// An export must not let a panic out either: one that reached the runtime
// would end the program, and every later call of the worker would fail
// for the rest of the call. Each export defers recovered, which counts
// the panic (frame_stats and mls_state "panics") and answers as the
// export does for bad input.
package main

import (
	"encoding/binary"
	"fmt"
	"unsafe"
)

// The io area: in is the input buffer (dave_in), out the output of the
// last call; hdr tells JS where the output is.
var (
	in  []byte
	out []byte
	hdr [4]uint32 // 0: output pointer, 1: output length
)

// ptr is the module-memory address of b's first byte (0 for empty).
func ptr(b []byte) uint32 {
	if cap(b) == 0 {
		return 0
	}
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
}

// setOut publishes b as the call's output.
func setOut(b []byte) {
	out = b
	hdr[0], hdr[1] = ptr(b), uint32(len(b))
}

// input is the first n bytes of the input buffer (n is clamped).
func input(n uint32) []byte {
	if fault {
		fault = false
		panic("dave_fault")
	}
	return in[:min(int(n), len(in))]
}

// fault makes the next export that reads its input panic (dave_fault).
var fault bool

// daveFault arms fault: the Node tests prove with it that a panic in an
// export is recovered and reported, not the end of the instance.
//
//go:wasmexport dave_fault
func daveFault() { fault = true }

// readUsers reads n user ids, u64 LE each, from the input buffer.
func readUsers(n uint32) []uint64 {
	b := input(8 * n)
	users := make([]uint64, 0, len(b)/8)
	for i := 0; i+8 <= len(b); i += 8 {
		users = append(users, binary.LittleEndian.Uint64(b[i:]))
	}
	return users
}

// panics counts the panics the exports recovered from.
var panics uint64

// recovered, deferred by every export, turns a panic into the export's
// failure: it counts it and calls fail with its message.
func recovered(fail func(msg string)) {
	if r := recover(); r != nil {
		panics++
		fail(fmt.Sprint("dave: panic: ", r))
	}
}

// failOut is a fail for recovered that makes the message the output.
func failOut(msg string) { setOut([]byte(msg)) }

// daveIn returns the address of an input buffer of at least n bytes.
//
//go:wasmexport dave_in
func daveIn(n uint32) uint32 {
	if int(n) > cap(in) {
		in = make([]byte, max(int(n), 2*cap(in), 4096))
	}
	in = in[:cap(in)]
	return ptr(in)
}

// daveHdr returns the address of hdr.
//
//go:wasmexport dave_hdr
func daveHdr() uint32 { return uint32(uintptr(unsafe.Pointer(&hdr[0]))) }

func main() {
	daveIn(4096)
	select {}
}
