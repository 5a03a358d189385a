// Package simulcast holds the per-receiver video arithmetic of simulcast
// forwarding, as pure state machines (shared/docs/style.md rule 3: no
// locks, no clocks, no I/O; the caller passes the time and holds its lock):
//
//   - [Forwarder], one per (receiver, video sender): which packets of which
//     layer go out and how they are rewritten so the receiver sees one
//     continuous stream.
//   - [Selector], one per receiver: which layer of each sender it should
//     get, from its wants, the layers on offer and its bandwidth estimate.
//
// # Forwarder
//
// Every layer's packets reach every receiver's Forwarder (layer index,
// extended SN and TS from the layer's own rtpmunger.Unwrapper, marker,
// switch point, VP8 descriptor). A layer switch, and the start or resume
// of the stream, happens only at a switch point of the target layer: the
// first packet of a key frame (videocodec.VP8.SwitchPoint, H264's: the
// access unit starts with an SPS). Until then the current layer keeps
// flowing (no freeze while waiting), and a keyframe request for the target
// is due at once and then every clamp(2×RTT, 200 ms, 1 s) (LiveKit's
// throttle); the caller sends it as PLI or FIR towards the sender. Pausing
// (target -1) takes effect at once.
//
// Sequence numbers go through an rtpmunger.Munger: at a switch its
// SwitchSource makes the new layer's first packet the SN after the last
// one out and clears the out-of-order map, so late packets of the old
// layer, or of the new layer from before its switch point, are dropped
// rather than renumbered (versatica/mediasoup#823). Packets of any other
// layer never reach the munger. Padding-only packets are Dropped there, so
// the outgoing SNs stay contiguous; out-of-order and duplicate packets of
// the current layer are handled as rtpmunger does.
//
// Timestamps: at a switch the new layer's timestamps are offset so that
// its first packet comes after the last one out by the capture-time
// distance between the two packets, computed from the RTCP sender reports
// of both layers when the caller has given them (SetSenderReport; LiveKit
// processSourceSwitch, mediasoup tsOffset), checked against the wall clock;
// otherwise by the wall-clock time since the last packet forwarded, and at
// least one frame interval. Timestamps never go backwards.
//
// VP8: picture ID (7 or 15 bits), TL0PICIDX and key index continue from
// the last values out by one at a switch (LiveKit codecmunger/vp8.go);
// within a layer they keep the sender's steps. Result carries the values;
// the caller writes them into its own copy of the payload with
// videocodec.VP8.Rewrite.
//
// The marker of a forwarded packet is the incoming one (the end of a
// frame), not the munger's talk-spurt marker.
package simulcast
