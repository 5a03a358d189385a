package dave

// OpenCandidate is one key a split open tries.
type OpenCandidate struct {
	// KeyID names Key: the same id always means the same key.
	KeyID uint64
	// Key is the AES-128 key of one epoch's generation for the frame.
	Key [KeySize]byte
}

// OpenJob is one received frame's decryption split around the AES-GCM
// call (FrameSession.BeginOpen and FinishOpen, or Decryptor.BeginOpen and
// FinishOpen): the Decryptor parses the frame and lists the keys it would
// try, in the order it would try them (Decrypt's: the epoch that opened
// the last frame, then the others newest first; epochs whose
// replay window or generation rules refuse the frame are left out); the
// caller opens Sealed with each Candidate in turn (AES-128-GCM, IV, AAD,
// an 8-byte tag, e.g. WebCrypto with tagLength 64) and reports which key
// opened it, with the plaintext; the Decryptor then applies the replay
// window and generation bookkeeping as a successful Decrypt would and
// rebuilds the frame.
//
// An OpenJob owns a copy of the frame; its buffers are reused when it is.
// The exported fields are valid from BeginOpen to FinishOpen and must not
// be modified.
type OpenJob struct {
	// IV is the 12-byte GCM nonce (8 zero bytes ‖ u32 LE nonce).
	IV [gcmNonceSize]byte
	// AAD is the clear ranges concatenated (empty without ranges).
	AAD []byte
	// Sealed is the ciphertext followed by the 8-byte tag.
	Sealed []byte
	// Candidates are the keys to try, in order.
	Candidates []OpenCandidate

	frame  []byte // owned copy
	info   frameInfo
	ranges []span
	sealed []byte // Sealed's buffer when there are ranges
	aad    []byte

	// FrameSession's: the sender, its Decryptor and key count at BeginOpen.
	user  uint64
	dec   *Decryptor
	stamp uint64
}

// BeginOpen prepares job for frame. It reports false when the frame is not
// one for the split path (the Opus silence frame, a frame CheckFrame
// rejects, no keys, or no epoch whose replay window and generation rules
// admit it): pass it to Decrypt, which passes, refuses and counts it
// without any AES work. Expired epochs and generations are dropped first,
// as Decrypt drops them.
func (d *Decryptor) BeginOpen(job *OpenJob, frame []byte) bool {
	if IsOpusSilence(frame) {
		return false
	}
	now := d.now()
	d.dropExpired(now)
	if len(d.epochs) == 0 {
		return false
	}
	job.frame = append(job.frame[:0], frame...)
	info, ranges, err := parseFrame(job.frame, job.ranges[:0])
	job.info, job.ranges = info, ranges
	if err != nil {
		return false
	}
	job.Candidates = job.Candidates[:0]
	for i := len(d.epochs); i >= 0; i-- {
		e := d.tryAt(i)
		if e == nil {
			continue
		}
		gen := wrappedGeneration(e.oldest, info.nonce>>generationShift)
		if !e.canProcess(bigNonce(gen, info.nonce)) {
			continue
		}
		gc, err := e.cipher(gen, now)
		if err != nil {
			continue
		}
		job.Candidates = append(job.Candidates, OpenCandidate{KeyID: gc.id, Key: gc.key})
	}
	if len(job.Candidates) == 0 {
		return false
	}
	setNonce(&job.IV, info.nonce)
	if len(ranges) == 0 {
		// The frame is interleaved ‖ tag ‖ footer: Sealed is its prefix.
		job.AAD, job.Sealed = nil, job.frame[:len(info.interleaved)+TagSize]
		return true
	}
	job.sealed, job.aad = splitInterleaved(job.sealed[:0], job.aad[:0], info.interleaved, ranges)
	job.sealed = append(job.sealed, info.tag...)
	job.AAD, job.Sealed = job.aad, job.sealed
	return true
}

// FinishOpen ends job (after a BeginOpen that reported true): keyID is the candidate that opened Sealed (0: none
// did) and plaintext what it decrypted to (len(Sealed)-TagSize bytes). It
// goes through the epochs as Decrypt does, with "opened by keyID" in place
// of the AES-GCM open, so the replay window, the generations and the
// counters move exactly as they would for Decrypt: a frame decrypted
// meanwhile is a replay, a key dropped meanwhile opens nothing, and keys
// installed since BeginOpen were not tried (FrameSession.FinishOpen hands
// such a frame to Decrypt). It appends the frame's plaintext to dst, as
// Decrypt; on error dst is returned unchanged.
//
// Errors: as Decrypt's for a DAVE frame (ErrNoKey, ErrAuth, ErrReplay,
// ErrGenerationExpired, ErrGenerationTooNew).
func (d *Decryptor) FinishOpen(dst []byte, job *OpenJob, keyID uint64, plaintext []byte) ([]byte, error) {
	now := d.now()
	d.dropExpired(now)
	if len(d.epochs) == 0 {
		d.stats.NoKey++
		return dst, ErrNoKey
	}
	nonce := job.info.nonce
	opened := keyID != 0 && len(plaintext) == len(job.Sealed)-TagSize
	worst := ErrAuth
	for i := len(d.epochs); i >= 0; i-- {
		e := d.tryAt(i)
		if e == nil {
			continue
		}
		d.stats.Attempts++
		gen := wrappedGeneration(e.oldest, nonce>>generationShift)
		bn := bigNonce(gen, nonce)
		if !e.canProcess(bn) {
			worst = worse(worst, ErrReplay)
			continue
		}
		gc, err := e.cipher(gen, now)
		if err != nil {
			worst = worse(worst, err)
			continue
		}
		if !opened || gc.id != keyID {
			continue
		}
		e.success(gen, bn, now)
		d.last = e
		d.stats.Decrypted++
		return reconstruct(dst, job.info.interleaved, job.ranges, plaintext), nil
	}
	d.countFailure(worst)
	return dst, worst
}

// openAt is FinishOpen as an openFunc (FrameSession's hold path).
func (job *OpenJob) openAt(keyID uint64, plaintext []byte) openFunc {
	return func(d *Decryptor, dst, _ []byte) ([]byte, error) { return d.FinishOpen(dst, job, keyID, plaintext) }
}
