//go:build js && wasm

package main

import (
	"encoding/binary"

	"github.com/parleyhq/parley/e2ee/dave"
)

// The split path for big frames (web/dave/bigframes.js): the module does
// everything but the AES-GCM call, which JS makes with WebCrypto (see
// dave.SealJob and dave.OpenJob). A call that begins a job answers a
// handle (> 0) that the matching finish call takes; 0 means "not for the
// split path: use frame_encrypt / frame_decrypt". Every handle must be
// finished (or, for a seal, aborted) exactly once.

// maxJobs bounds the jobs in flight (one per transform stream in
// practice); beyond it begin answers 0 and the frame takes the Go path.
const maxJobs = 64

// jobTable holds jobs by handle (index+1); slots keep their job, and its
// buffers, for the next one.
type jobTable[J any] struct {
	jobs [maxJobs]*J
	busy [maxJobs]bool
}

// take returns a free slot's handle and job (0, nil when all are busy).
func (t *jobTable[J]) take() (int32, *J) {
	for i := range t.jobs {
		if !t.busy[i] {
			if t.jobs[i] == nil {
				t.jobs[i] = new(J)
			}
			t.busy[i] = true
			return int32(i + 1), t.jobs[i]
		}
	}
	return 0, nil
}

// get returns the busy job of handle h, or nil.
func (t *jobTable[J]) get(h int32) *J {
	if h < 1 || h > maxJobs || !t.busy[h-1] {
		return nil
	}
	return t.jobs[h-1]
}

func (t *jobTable[J]) free(h int32) {
	if h >= 1 && h <= maxJobs {
		t.busy[h-1] = false
	}
}

var (
	seals     jobTable[dave.SealJob]
	opens     jobTable[dave.OpenJob]
	openUsers [maxJobs]uint64 // the sender of each open job, by handle-1
	jobBuf    []byte          // begin and again records
)

// sealRecord writes job's record to the output: u64 LE key id, 16-byte
// key, 12-byte IV, u32 LE AAD length, AAD, plaintext (the rest).
func sealRecord(job *dave.SealJob) {
	b := binary.LittleEndian.AppendUint64(jobBuf[:0], job.KeyID)
	b = append(b, job.Key[:]...)
	b = append(b, job.IV[:]...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(job.AAD)))
	b = append(b, job.AAD...)
	b = append(b, job.Plaintext...)
	jobBuf = b
	setOut(b)
}

// sealBegin begins the split encryption of the n-byte frame in the input
// buffer (codec and alone as frame_encrypt's): a handle with the job's
// record as the output (see sealRecord), or 0: call frame_encrypt.
//
//go:wasmexport seal_begin
func sealBegin(codec, n, alone uint32) (res int32) {
	h, job := seals.take()
	defer recovered(func(string) { seals.free(h); res = 0 })
	if job == nil {
		return 0
	}
	if !frames.BeginSeal(job, dave.Codec(codec), input(n), alone != 0) {
		seals.free(h)
		return 0
	}
	sealRecord(job)
	return h
}

// Results of seal_finish.
const (
	sealDone   = 1  // the output is the DAVE frame; h is finished
	sealAgain  = 2  // seal again: the output is the job's new record
	sealFailed = -1 // dropped and counted (encrypt); h is finished
)

// sealFinish takes the n-byte ciphertext‖tag of job h from the input
// buffer; see sealDone and the other results.
//
//go:wasmexport seal_finish
func sealFinish(h int32, n uint32) (res int32) {
	defer recovered(func(string) { seals.free(h); res = sealFailed })
	job := seals.get(h)
	if job == nil {
		return sealFailed
	}
	if need := len(job.Plaintext) + dave.MaxOverhead + 64; cap(encBuf) < need {
		encBuf = make([]byte, 0, need+need/4)
	}
	o, again, err := frames.FinishSeal(encBuf[:0], job, input(n))
	switch {
	case again:
		sealRecord(job)
		return sealAgain
	case err != nil:
		seals.free(h)
		return sealFailed
	}
	seals.free(h)
	setOut(o)
	return sealDone
}

// sealAbort gives up job h (WebCrypto failed; JS sends the frame through
// frame_encrypt).
//
//go:wasmexport seal_abort
func sealAbort(h int32) { seals.free(h) } // cannot panic

// openBegin begins the split decryption of the n-byte frame from user in
// the input buffer: a handle with the job as the output (12-byte IV, u32
// LE AAD length, AAD, u32 LE sealed length, ciphertext‖tag, u32 LE
// candidate count, then per candidate u64 LE key id and 16-byte key, in
// the order to try them), or 0: call frame_decrypt.
//
//go:wasmexport open_begin
func openBegin(user uint64, n uint32) (res int32) {
	h, job := opens.take()
	defer recovered(func(string) { opens.free(h); res = 0 })
	if job == nil {
		return 0
	}
	if !frames.BeginOpen(job, user, input(n)) {
		opens.free(h)
		return 0
	}
	openUsers[h-1] = user
	b := append(jobBuf[:0], job.IV[:]...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(job.AAD)))
	b = append(b, job.AAD...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(job.Sealed)))
	b = append(b, job.Sealed...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(job.Candidates)))
	for _, c := range job.Candidates {
		b = binary.LittleEndian.AppendUint64(b, c.KeyID)
		b = append(b, c.Key[:]...)
	}
	jobBuf = b
	setOut(b)
	return h
}

// openFinish ends job h: keyID is the candidate that opened it (0: none)
// and the input buffer holds its n-byte plaintext. The output and result
// are frame_decrypt's (the emits, held frames first); -1 for an unknown
// handle.
//
//go:wasmexport open_finish
func openFinish(h int32, keyID uint64, n uint32) (cnt int32) {
	job := opens.get(h)
	if job == nil {
		return -1
	}
	defer recovered(func(string) { opens.free(h); cnt = discardHeld(openUsers[h-1], true) })
	emitBuf = emitBuf[:0]
	frames.FinishOpen(job, keyID, input(n), func(p []byte, ok bool) { emit(p, ok); cnt++ })
	opens.free(h)
	setOut(emitBuf)
	return cnt
}
