package mediaproxy

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// variantSource names where a variant's original comes from: an
// attachment, or an external URL when target is set. It is a value so
// that a cache hit allocates no closure; produce reads it on a miss.
type variantSource struct {
	att    Attachment
	target string
}

// maxPooledSource bounds the source buffers kept for reuse.
const maxPooledSource = 8 << 20

// readAttachment reads an attachment's bytes, reserving them from the body
// budget first, into a pooled buffer (a fresh multi-megabyte buffer per
// job costs page faults, zeroing and GC work); done hands the buffer back
// and must be called once the pipeline, and so libvips, is finished with
// the bytes.
func (s *Server) readAttachment(a Attachment, res *reservation) (data []byte, done func(), err error) {
	if a.Size > s.cfg.Limits.MaxBytes {
		return nil, nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, a.Size)
	}
	if err := res.growTo(a.Size); err != nil {
		return nil, nil, err
	}
	bp, _ := s.srcBufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	data, err = s.cfg.Store.ReadInto(a, s.cfg.Limits.MaxBytes, *bp)
	if err != nil {
		s.srcBufs.Put(bp)
		return nil, nil, err
	}
	return data, func() {
		if cap(data) <= maxPooledSource {
			*bp = data[:0]
			s.srcBufs.Put(bp)
		}
	}, nil
}

// fetchSource fetches an external original under the fetch pool's bound,
// its bytes admitted by the body budget as they arrive.
func (s *Server) fetchSource(ctx context.Context, target string, res *reservation) ([]byte, error) {
	release, err := s.fetchPool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	return s.fetcher.fetch(ctx, target, res)
}

// awaitJob waits for the job producing key, joining the one in flight or
// starting it. The wait ends with the job, or earlier with the request's
// deadline, its client going away or the server halting; the last waiter
// to leave early may cancel the job (flightGroup).
func (s *Server) awaitJob(ctx context.Context, req *Request, key, etag string, opts Options, source variantSource) (Variant, error) {
	c, leader, err := s.flight.Do(key, func(ctx context.Context, commit func()) (Variant, error) {
		return s.produce(ctx, commit, key, etag, opts, source)
	})
	if err != nil {
		return Variant{}, err
	}
	if !leader {
		s.metrics.coalesced.Inc()
	}
	ctx, unwatch := s.waiters.add(ctx, req.conn)
	defer unwatch()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	select {
	case <-c.done:
		if c.err != nil && ctx.Err() != nil {
			return Variant{}, waitError(ctx) // the job ended for the same reason
		}
		return c.res, c.err
	case <-ctx.Done():
		if s.flight.leave(c) {
			s.metrics.abandoned.Inc()
		}
		return Variant{}, waitError(ctx)
	}
}

// waitError says why a wait ended early.
func waitError(ctx context.Context) error {
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, ErrClosed):
		return fmt.Errorf("%w: shutting down", ErrClosed)
	case errors.Is(cause, context.DeadlineExceeded):
		return fmt.Errorf("%w: request deadline", ErrTimeout)
	default: // ErrClientGone from the watcher, or the caller's context ended
		return ErrClientGone
	}
}

// produce runs one job for key under its own deadline, detached from any
// one requester so that coalesced waiters are not cancelled by the first
// caller leaving; ctx is the flight group's (cancelled by Close, or when
// every waiter left before commit).
//
// Admission comes before memory: an attachment is read only once the job
// holds a worker slot (a queued or refused job has read nothing), and
// every source's bytes are reserved from the body budget before they are
// read. An external original is fetched before the job takes a worker (a
// fetch waits on the network, not the CPU), under the fetch pool's bound.
func (s *Server) produce(ctx context.Context, commit func(), key, etag string, opts Options, source variantSource) (Variant, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	res := reservation{b: s.budget}
	defer res.release()
	var src []byte
	if source.target != "" {
		var err error
		if src, err = s.fetchSource(ctx, source.target, &res); err != nil {
			return Variant{}, err
		}
	}
	release, err := s.pool.Acquire(ctx)
	if err != nil {
		return Variant{}, err
	}
	defer release()
	if source.target == "" {
		var done func()
		if src, done, err = s.readAttachment(source.att, &res); err != nil {
			return Variant{}, err
		}
		// Run has closed the libvips image (and libvips' operation cache
		// is off) by the time this runs, so nothing reads src afterwards;
		// the result body is a copy made by the encoder.
		defer done()
	}
	if s.caching() {
		commit()
	}
	start := time.Now()
	j := &Job{Source: src, Opts: opts, Limits: s.cfg.Limits, log: s.log}
	if err := s.pipeline.Run(ctx, j); err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, ErrClosed) || errors.Is(cause, errAbandoned) {
			return Variant{}, fmt.Errorf("%w: job cancelled (%w)", ErrClosed, cause)
		}
		if errors.Is(err, ErrTimeout) {
			s.stats.Timeouts.Add(1)
		}
		return Variant{}, err
	}
	s.metrics.processing.Observe(time.Since(start).Seconds())
	v := Variant{Body: j.Result.Body, Format: j.Result.Format, ETag: etag}
	s.mem.put(key, v)
	if err := s.disk.put(key, v); err != nil {
		s.log.Warn("disk cache write", "err", err)
	}
	return v, nil
}

// caching reports whether a produced variant is kept (memory or disk).
func (s *Server) caching() bool { return s.mem.max > 0 || s.disk != nil }
