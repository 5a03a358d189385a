package voiceclient

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/parleyhq/parley/internal/ogg"
)

// Recorder writes each remote speaker's frames to its own Ogg Opus file,
// DIR/<user id>.ogg (DIR/ssrc-<n>.ogg for an unannounced SSRC). Use
// Recorder.OnFrame as Config.OnFrame (or call it from yours). Packets are
// stored as received, silence frames included; gaps in transmission are not
// filled, so playback is continuous.
type Recorder struct {
	dir string

	mu     sync.Mutex
	files  map[string]*recording // +checklocks:mu; by file base name
	closed bool                  // +checklocks:mu
	err    error                 // +checklocks:mu; first write error
}

type recording struct {
	path   string
	f      *os.File
	bw     *bufio.Writer
	w      *ogg.Writer
	frames int
}

// NewRecorder creates dir if needed.
func NewRecorder(dir string) (*Recorder, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("voiceclient: recorder: %w", err)
	}
	return &Recorder{dir: dir, files: map[string]*recording{}}, nil
}

// OnFrame appends f to its speaker's file. Errors are kept for Close.
func (r *Recorder) OnFrame(f Frame) {
	name := fileName(f)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.err != nil {
		return
	}
	rec, ok := r.files[name]
	if !ok {
		var err error
		if rec, err = r.open(name); err != nil {
			r.err = err
			return
		}
		r.files[name] = rec
	}
	if err := rec.w.WritePacket(f.Opus); err != nil {
		r.err = err
		return
	}
	rec.frames++
}

func (r *Recorder) open(name string) (*recording, error) {
	p := filepath.Join(r.dir, name+".ogg")
	f, err := os.Create(p)
	if err != nil {
		return nil, fmt.Errorf("voiceclient: recorder: %w", err)
	}
	bw := bufio.NewWriterSize(f, 32<<10)
	w, err := ogg.NewWriter(bw, ogg.WriterOptions{PacketsPerPage: 10})
	if err != nil {
		f.Close()
		return nil, err
	}
	return &recording{path: p, f: f, bw: bw, w: w}, nil
}

// fileName is the user id when it is a safe file name, else ssrc-<n>.
func fileName(f Frame) string {
	if f.UserID != "" && len(f.UserID) <= 128 {
		ok := true
		for _, ch := range f.UserID {
			if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_') {
				ok = false
				break
			}
		}
		if ok {
			return f.UserID
		}
	}
	return "ssrc-" + strconv.FormatUint(uint64(f.SSRC), 10)
}

// Recorded maps each file written to its number of frames.
func (r *Recorder) Recorded() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.files))
	for _, rec := range r.files {
		out[rec.path] = rec.frames
	}
	return out
}

// Close finishes every file (end-of-stream page) and returns the first
// error met while recording or closing.
func (r *Recorder) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return r.err
	}
	r.closed = true
	errs := []error{r.err}
	for _, rec := range r.files {
		errs = append(errs, rec.w.Close(), rec.bw.Flush(), rec.f.Close())
	}
	r.err = errors.Join(errs...)
	return r.err
}
