package voiceclient

import (
	"context"
	"fmt"
	"time"

	"github.com/parleyhq/parley/voiceproto"
)

// CameraLayer is one simulcast layer's source for PlayCamera: a VP8 clip
// (ReadIVF) sent on the stream of the same index, looped.
type CameraLayer struct {
	Header IVFHeader
	Frames []IVFFrame
}

// PlayCamera sends a simulcast camera: layers[i] on VideoStreams()[i], one
// frame of every layer per frame interval (layer 0's time base), all
// layers with the same RTP timestamp, each clip looped, for d (0: the
// shortest clip once), until ctx ends. A layer the server's op 15 paused
// is not sent (its clip keeps its place); a layer a PLI or FIR asked a
// keyframe of, or one resumed, jumps ahead to its clip's next keyframe
// (a file cannot encode one on demand). Each layer starts at a keyframe.
// It returns the frame intervals played.
func (c *Conn) PlayCamera(ctx context.Context, layers []CameraLayer, d time.Duration) (int, error) {
	if len(layers) == 0 || len(layers) > len(c.videoStreams) {
		return 0, fmt.Errorf("%w: %d camera layers for %d video streams", ErrConfig, len(layers), len(c.videoStreams))
	}
	shortest := 0
	for i, l := range layers {
		if len(l.Frames) == 0 || l.Header.Denominator == 0 || l.Header.Numerator == 0 {
			return 0, fmt.Errorf("%w: camera layer %d is empty", ErrConfig, i)
		}
		if shortest == 0 || len(l.Frames) < shortest {
			shortest = len(l.Frames)
		}
	}
	h := layers[0].Header
	step := uint64(1)
	if f := layers[0].Frames; len(f) > 1 && f[1].Timestamp > f[0].Timestamp {
		step = f[1].Timestamp - f[0].Timestamp
	}
	interval := time.Duration(step) * time.Second * time.Duration(h.Numerator) / time.Duration(h.Denominator)
	ticks := shortest
	if d > 0 {
		ticks = int(d / interval)
	}
	s := &c.send
	s.mu.Lock()
	for i := range layers {
		s.video[i].needKey = true
	}
	s.mu.Unlock()
	pos := make([]int, len(layers))
	start := time.Now()
	t := time.NewTimer(0)
	defer t.Stop()
	for tick := range ticks {
		t.Reset(time.Until(start.Add(time.Duration(tick) * interval)))
		select {
		case <-ctx.Done():
			return tick, ctx.Err()
		case <-c.closing:
			return tick, ErrClosed
		case <-t.C:
		}
		ts := uint32(uint64(tick) * uint64(interval) * voiceproto.VideoClockRate / uint64(time.Second))
		for i, l := range layers {
			s.mu.Lock()
			paused, key := s.video[i].paused, s.video[i].needKey
			if !paused {
				s.video[i].needKey = false
			}
			s.mu.Unlock()
			if paused {
				pos[i]++
				continue
			}
			n := len(l.Frames)
			if key {
				k := nextKeyframe(l.Frames, pos[i]%n)
				pos[i] += (k - pos[i]%n + n) % n
				c.stats.videoKeyframesForced.Add(1)
			}
			f := l.Frames[pos[i]%n]
			pos[i]++
			if err := c.SendVideoFrame(i, f.Data, ts); err != nil {
				return tick, err
			}
		}
	}
	return ticks, nil
}

// nextKeyframe returns the index of the first keyframe at or after from
// (cyclically), or from if the clip has none.
func nextKeyframe(frames []IVFFrame, from int) int {
	for k := range frames {
		i := (from + k) % len(frames)
		if len(frames[i].Data) > 0 && frames[i].Data[0]&0x01 == 0 {
			return i
		}
	}
	return from
}
