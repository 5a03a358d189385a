package sfu

import "sync/atomic"

// VideoStats counts the SFU's video feedback work (native receivers).
type VideoStats struct {
	SenderReports atomic.Uint64 // RTCP sender reports about video layers
	RTCPMalformed atomic.Uint64 // decrypted RTCP that did not parse
	PLIIn         atomic.Uint64 // keyframe requests (PLI, FIR) from receivers
	PLIOut        atomic.Uint64 // PLIs sent to senders
	PLICoalesced  atomic.Uint64 // requests folded into a recent PLI
	NACKed        atomic.Uint64 // SNs receivers NACKed
	RTXSent       atomic.Uint64 // RTX packets sent
	RTXMissed     atomic.Uint64 // NACKed SNs no longer known or cached
	RTXThrottled  atomic.Uint64 // NACKs within a resend's interval or past its budget
	Estimates     atomic.Uint64 // bandwidth estimates updated from receiver reports
}

// VideoStats returns the server's video feedback counters.
func (s *Server) VideoStats() *VideoStats { return &s.vstats }
