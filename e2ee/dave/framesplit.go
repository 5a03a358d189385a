package dave

// The split path of a FrameSession: the AES-GCM call of a frame made by
// the caller (the browser's WebCrypto, shared/docs/webrtc.md §4), all the
// rest (nonces, keys, codec ranges, frame layout, replay window,
// generations, hold-and-retry, counters) here. See SealJob and OpenJob.

// BeginSeal is Encrypt split around the AES-GCM call: it reports true when
// Encrypt would encrypt frame (encoded with codec; alone as Encrypt's) and
// job holds its key, nonce, AAD and plaintext; seal them and call
// FinishSeal. false: pass the frame to Encrypt (it is sent plain, waits,
// or is refused and counted there).
func (s *FrameSession) BeginSeal(job *SealJob, codec Codec, frame []byte, alone bool) bool {
	if (codec == CodecOpus || codec == CodecUnknown) && IsOpusSilence(frame) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.version == 0 || !s.sendKey {
		return false
	}
	return s.enc.BeginSeal(job, codec, frame)
}

// FinishSeal appends the DAVE frame of job to dst from sealed (the
// ciphertext of job.Plaintext and its tag); see Encryptor.FinishSeal,
// including again (seal job.Plaintext once more with the job's new nonce
// and key). A key change since BeginSeal does not matter: the frame is
// sealed with the key of its nonce, which receivers keep for
// RatchetExpiry.
func (s *FrameSession) FinishSeal(dst []byte, job *SealJob, sealed []byte) (out []byte, again bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.enc.FinishSeal(dst, job, sealed)
}

// BeginOpen is Decrypt split around the AES-GCM call: it reports true when
// frame from user is a DAVE frame a current key of user may open and job
// lists those keys (Decryptor.BeginOpen); try them in order and call
// FinishOpen, exactly once. false: pass the frame to Decrypt.
//
// Between BeginOpen and FinishOpen the frame is not in the session: frames
// of user passed to Decrypt (or emitted by Flush) meanwhile are emitted
// before it. Callers keep one sender's frames in order by finishing one
// before passing the next.
func (s *FrameSession) BeginOpen(job *OpenJob, user uint64, frame []byte) bool {
	if IsOpusSilence(frame) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.recv[user]
	if r == nil || r.dec == nil || len(r.held) > 0 && r.keys != r.tried {
		return false // no key (Decrypt decides), or held frames to retry first
	}
	if !r.dec.BeginOpen(job, frame) {
		return false
	}
	job.user, job.dec, job.stamp = user, r.dec, r.keys
	return true
}

// FinishOpen ends job: keyID is the candidate that opened job.Sealed (0:
// none did) and plaintext its plaintext. It emits as Decrypt would have
// for the frame (held frames first, one emit per frame, in order): the
// frame decrypted, or, when no key opened it, held for a key (the hold
// path of Decrypt). When the sender's keys changed since BeginOpen and no
// candidate opened the frame, or the sender's Decryptor was replaced, the
// frame goes through Decrypt itself (new keys are tried in Go). plaintext
// is not kept after FinishOpen returns.
func (s *FrameSession) FinishOpen(job *OpenJob, keyID uint64, plaintext []byte, emit func(plain []byte, ok bool)) {
	s.dmu.Lock()
	defer s.dmu.Unlock()
	s.finishOpen(job, keyID, plaintext)
	for _, r := range s.res {
		emit(r.plain, r.ok)
	}
}

func (s *FrameSession) finishOpen(job *OpenJob, keyID uint64, plaintext []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer func() { job.dec = nil }()
	var open openFunc // nil: Decrypt
	if r := s.recv[job.user]; r != nil && r.dec == job.dec && (keyID != 0 || r.keys == job.stamp) {
		open = job.openAt(keyID, plaintext)
	}
	s.process(job.user, job.frame, true, open)
}
