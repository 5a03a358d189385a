package service

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"

	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/chat/store"
	"github.com/parleyhq/parley/chat/voicestate"
)

// Service is the chat logic, the facade the transports call. Create with
// New. It is composed of parts that each own one lock and guard one thing:
//
//   - accounts (accounts.mu): users and tokens (their lifetimes);
//   - graph (guildGraph.mu): guilds, channels, roles, members and the
//     default guild;
//   - voice (voicestate.Tracker): who is in which voice channel;
//   - online (onlineSet.mu): who is online, with which status; held while
//     its transitions are dispatched, so they go out in order (the one
//     lock held while calling out, and only to the gateway, which never
//     blocks and never calls back);
//   - disp (dispatcherSlot.mu): the gateway, set once;
//   - deleter (fileDeleter.mu): whether the attachment deleter runs; its
//     queue is only ever sent to without blocking, and files are deleted
//     without the lock.
//
// Every part takes its lock inside its own methods and returns copies;
// no part calls another or the store with its lock held (nor the
// dispatcher, but for online), so no path ever holds two of these locks
// and there is no lock order.
// The facade holds none of them: it reads copies, validates, commits to
// the store, updates the parts, then dispatches.
type Service struct {
	cfg Config
	st  store.Store
	log *slog.Logger
	gen *model.Generator

	accounts  *accounts
	lastPurge atomic.Int64 // unix nanos of the last purge of expired tokens
	hashers   *hasher      // bounds password hashing
	dummy     string       // dummyHash at the configured cost
	graph     *guildGraph
	voice     *voicestate.Tracker
	online    *onlineSet
	disp      dispatcherSlot
	// deleter deletes attachments in the background (Start, Close).
	deleter *fileDeleter
	// placed (placements.mu) is the node each voice channel was placed
	// on; mover (mover.mu) moves channels off leaving nodes (Start,
	// Close; move.go).
	placed placements
	mover  *mover
}

// New applies the defaults to cfg, validates it and loads the guild graph
// from the store, seeding a fresh store with the "Parley" guild (#general
// and the Lounge voice channel).
func New(ctx context.Context, cfg Config) (*Service, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Service{
		cfg: cfg, st: cfg.Store, log: cfg.Logger, gen: model.NewGenerator(cfg.Worker, 0),
		accounts: newAccounts(), graph: newGuildGraph(), voice: voicestate.New(), online: newOnlineSet(),
		hashers: newHasher(cfg.PasswordHashers, cfg.PasswordQueue, cfg.PasswordWait), dummy: dummyHash(cfg.PasswordIterations),
		deleter: newFileDeleter(cfg.Attachments, cfg.Logger), mover: newMover(),
	}
	if err := s.seed(ctx); err != nil {
		return nil, err
	}
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Start starts the service's goroutines, the attachment deleter and, when
// the registry is a voicectl.Watcher, the mover of voice calls (move.go),
// and returns at once. A Service that is never started deletes
// attachments on the caller's goroutine instead, and moves no calls.
func (s *Service) Start(context.Context) error {
	s.deleter.start()
	s.startMover()
	return nil
}

// Close stops the attachment deleter: deletions queued finish (bounded by
// ctx; past it the rest fail, counted in AttachmentDeleteFailures) and its
// goroutine has ended when Close returns. Later deletions are dropped
// (counted). It returns ctx's error if the grace was cut short, and is
// idempotent. It also stops the mover (a move under way finishes). The
// transports must be closed first.
func (s *Service) Close(ctx context.Context) error {
	return errors.Join(s.closeMover(ctx), s.deleter.close(ctx))
}

// AttachmentDeleteFailures counts attachment deletions that failed, or
// were dropped because the service was closed: files left in the store.
func (s *Service) AttachmentDeleteFailures() uint64 { return s.deleter.failed.Load() }
