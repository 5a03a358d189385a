package voiceclient

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/parleyhq/parley/internal/ogg"
)

// FrameDuration is the playout interval of one Opus frame.
const FrameDuration = 20 * time.Millisecond

// SilenceFrames is how many F8 FF FE frames a sender emits before stopping.
const SilenceFrames = 5

// PlayFrames sends frames in real time, one every 20 ms against a fixed
// schedule (so timer lateness does not accumulate), framed like a desktop
// client: Speaking on, the frames, five silence frames, Speaking off. On
// ctx cancellation it stops early, still clears Speaking, and returns
// ctx.Err().
func (c *Conn) PlayFrames(ctx context.Context, frames [][]byte) error {
	i := 0
	return c.play(ctx, func() ([]byte, error) {
		if i == len(frames) {
			return nil, io.EOF
		}
		i++
		return frames[i-1], nil
	})
}

// PlayOgg streams the packets of an Ogg Opus stream like PlayFrames.
func (c *Conn) PlayOgg(ctx context.Context, r io.Reader) error {
	or := ogg.NewReader(r)
	return c.play(ctx, or.ReadPacket)
}

func (c *Conn) play(ctx context.Context, next func() ([]byte, error)) (err error) {
	if err := c.Speaking(true); err != nil {
		return err
	}
	defer func() {
		if serr := c.Speaking(false); err == nil && serr != nil && !errors.Is(serr, ErrClosed) {
			err = serr
		}
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	start := time.Now()
	n := 0
	wait := func() error {
		d := time.Until(start.Add(time.Duration(n) * FrameDuration))
		n++
		if d <= 0 {
			return ctx.Err()
		}
		timer.Reset(d)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.closing:
			return ErrClosed
		case <-timer.C:
			return nil
		}
	}
	for {
		f, rerr := next()
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return rerr
		}
		if err := wait(); err != nil {
			return err
		}
		if err := c.SendOpus(f); err != nil {
			return err
		}
	}
	for range SilenceFrames {
		if err := wait(); err != nil {
			return err
		}
		if err := c.SendOpus(ogg.Silence); err != nil {
			return err
		}
	}
	return nil
}
