package service

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/parleyhq/parley/chat/model"
)

// deleteQueue bounds the deletions waiting for the deleter; past it a
// caller deletes on its own goroutine (a request then waits for its
// files), which bounds the queue without dropping anything.
const deleteQueue = 256

// deleteJob is one deletion: files, or every file of a channel.
type deleteJob struct {
	files   []model.Attachment
	channel model.Snowflake // non-zero: the channel's files (files unused)
}

// fileDeleter deletes attachments off the request path, so that deleting
// a message or a channel of many files waits on no file system: one
// goroutine, started by Service.Start and waited for by Service.Close,
// takes jobs from a bounded queue in order. Before Start (a Service used
// without it, as tests do) or with the queue full, a job runs on its
// caller. After Close a job is dropped, counted in failed and logged.
type fileDeleter struct {
	files Attachments
	log   *slog.Logger
	jobs  chan deleteJob
	// cancel cancels the context of the deleter's jobs (Close, once its
	// grace is over); done is closed when the goroutine has ended.
	cancel context.CancelFunc
	done   chan struct{}
	// failed counts jobs that failed or were dropped at Close.
	failed atomic.Uint64

	mu sync.Mutex
	// Guarded by mu:
	started, closed bool
}

func newFileDeleter(files Attachments, log *slog.Logger) *fileDeleter {
	return &fileDeleter{files: files, log: log, jobs: make(chan deleteJob, deleteQueue), done: make(chan struct{})}
}

// start starts the goroutine (once).
func (d *fileDeleter) start() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started || d.closed {
		return
	}
	d.started = true
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	go func() {
		defer close(d.done)
		for job := range d.jobs {
			d.run(ctx, job)
		}
	}()
}

// add deletes job in the background, or on the caller (ctx) when the
// deleter does not run or its queue is full.
func (d *fileDeleter) add(ctx context.Context, job deleteJob) {
	if d.files == nil || job.channel == 0 && len(job.files) == 0 {
		return
	}
	d.mu.Lock()
	switch {
	case d.closed:
		d.mu.Unlock()
		d.failed.Add(1)
		d.log.Warn("attachments not deleted: the service is closed", "channel", job.channel, "files", len(job.files))
		return
	case d.started:
		select {
		case d.jobs <- job:
			d.mu.Unlock()
			return
		default: // full: the caller waits
		}
	}
	d.mu.Unlock()
	d.run(context.WithoutCancel(ctx), job)
}

func (d *fileDeleter) run(ctx context.Context, job deleteJob) {
	var err error
	if job.channel != 0 {
		err = d.files.DeleteChannel(ctx, job.channel)
	} else {
		err = d.files.Delete(ctx, job.files)
	}
	if err != nil {
		d.failed.Add(1)
		d.log.Warn("attachments not deleted", "channel", job.channel, "files", len(job.files), "err", err)
	}
}

// close stops taking jobs, lets the queued ones finish until ctx ends,
// then cancels the rest, and waits for the goroutine. It returns ctx's
// error when the grace was cut short.
func (d *fileDeleter) close(ctx context.Context) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	started := d.started
	close(d.jobs) // no sender: add sends under mu, and closed is set
	d.mu.Unlock()
	if !started {
		return nil
	}
	var err error
	select {
	case <-d.done:
	case <-ctx.Done():
		err = ctx.Err()
		d.cancel() // the jobs left fail at once (counted)
		<-d.done
	}
	d.cancel()
	return err
}
