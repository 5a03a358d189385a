package main

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/parleyhq/parley/fleet"
	"github.com/parleyhq/parley/internal/cli"
	"github.com/parleyhq/parley/internal/voicectl"
	"github.com/parleyhq/parley/internal/voicetoken"
	"github.com/parleyhq/parley/voicenode"
)

// The voice fleet: with --registry etcd://…, a voice node registers in
// etcd (fleet.Member) and a chat node places voice channels through it
// (fleet.Registry); without it, the embedded registry holds the local node.

// fleetFlags are serve's fleet flags, shared by the voice and chat
// components.
type fleetFlags struct {
	registry, region, nodeID *string
	capacity                 *int
	ttl, moveTimeout         *time.Duration
	tokenTTL                 *time.Duration
}

var fleetF fleetFlags

func defineFleetFlags(fs *flag.FlagSet) {
	fleetF.registry = cli.String(fs, "registry", "PARLEY_REGISTRY", "", "voice fleet registry, etcd://HOST:PORT[,HOST:PORT...]: voice nodes register there, chat places voice channels through it (default: one machine, in process)")
	fleetF.region = cli.String(fs, "region", "PARLEY_REGION", "", "this machine's region: the voice node's rtc_region, and the region chat's users prefer (default: --chat-voice-region)")
	fleetF.nodeID = cli.String(fs, "node-id", "PARLEY_NODE_ID", "", "the voice node's id in the fleet (default: HOSTNAME-PORT of the voice gateway)")
	fleetF.capacity = cli.Int(fs, "voice-capacity", "PARLEY_VOICE_CAPACITY", 0, "participants placement puts on this voice node at most (0: no bound)")
	fleetF.moveTimeout = cli.Duration(fs, "voice-move-timeout", "PARLEY_VOICE_MOVE_TIMEOUT", 30*time.Second, "how long a member of a call moved off a draining or lost voice node has to reach its new node before chat removes it from voice")
	fleetF.tokenTTL = cli.Duration(fs, "voice-token-ttl", "PARLEY_VOICE_TOKEN_TTL", time.Hour, "lifetime of the voice tokens chat issues; with --registry a rotated key keeps verifying this long after its last token")
	fleetF.ttl = cli.Duration(fs, "registry-ttl", "PARLEY_REGISTRY_TTL", fleet.DefaultTTL, "lease of a voice node's registration: it leaves the fleet this long after its last keep-alive (whole seconds, at least 2 s)")
}

// fleetRegion is --region, else --chat-voice-region.
func fleetRegion() string { return cmp.Or(*fleetF.region, *chatF.voiceRegion) }

// fleetEndpoints parses --registry; nil without it.
func fleetEndpoints() ([]string, error) {
	if *fleetF.registry == "" {
		return nil, nil
	}
	eps, err := fleet.ParseURL(*fleetF.registry)
	if err != nil {
		return nil, cli.Usagef("--registry: %v", err)
	}
	return eps, nil
}

// joinFleet registers the voice node srv, reachable at endpoint: it
// serves only while registered (SetServing).
func joinFleet(ctx context.Context, env *serveEnv, srv *voicenode.Node, endpoint string) (*fleet.Member, error) {
	eps, err := fleetEndpoints()
	if err != nil || eps == nil {
		return nil, err
	}
	id := *fleetF.nodeID
	if id == "" {
		host, _ := os.Hostname()
		_, port, _ := net.SplitHostPort(srv.GatewayAddr())
		id = strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
				return r
			}
			return '-'
		}, cmp.Or(host, "voice")+"-"+port)
	}
	meter := srv.NewLoadMeter()
	srv.SetServing(false) // until registered
	m, err := fleet.NewMember(fleet.MemberConfig{
		Endpoints: eps, TTL: *fleetF.ttl, Load: meter.Measure, Participants: srv.Participants,
		Node:      voicectl.Node{ID: id, Region: fleetRegion(), Endpoint: endpoint, Capacity: *fleetF.capacity},
		OnServing: func() { srv.SetServing(true) }, OnLost: func() { srv.SetServing(false) },
		OnDrain: env.quit, // `parley voice drain`: as SIGTERM, serve drains the node and exits
		Logger:  env.log.With("component", "fleet"), Metrics: env.metrics,
	})
	if err != nil {
		return nil, fmt.Errorf("--registry: %w", err)
	}
	if err := m.Start(ctx); err != nil {
		_ = m.Close(ctx)
		return nil, err
	}
	return m, nil
}

// drainNode moves the node's calls away before it leaves (SIGTERM or
// `parley voice drain`): it announces draining, so that no new call is
// placed here and the control planes move every call it holds (each
// member gets VOICE_SERVER_UPDATE for another node and leaves this one),
// and waits until no one is connected, within ctx (the shutdown timeout)
// less a second for closing; whoever stays then is closed with 4022
// (call terminated: the voice server changed).
func drainNode(ctx context.Context, env *serveEnv, srv *voicenode.Node, m *fleet.Member) {
	n := len(srv.Participants())
	if n == 0 {
		return
	}
	start := time.Now()
	log := env.log.With("component", "fleet")
	if err := m.SetState(ctx, voicectl.NodeDraining); err != nil {
		log.Warn("drain: could not announce draining", "err", err)
		return
	}
	log.Info("draining: moving calls to other nodes", "participants", n)
	until, ok := ctx.Deadline()
	if !ok {
		until = time.Now().Add(fleetDrainDefault)
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(until.Add(-time.Second)) {
		if n = len(srv.Participants()); n == 0 {
			log.Info("drained", "took", time.Since(start).Round(time.Millisecond))
			return
		}
		select {
		case <-tick.C:
		case <-time.After(time.Until(until.Add(-time.Second))):
		}
	}
	log.Warn("drain: participants stayed; closing them (4022)", "participants", n, "took", time.Since(start).Round(time.Millisecond))
	srv.SetServing(false)
}

// fleetSyncWait bounds how long a voice node waits for its Follower's
// first listing before it registers.
const fleetSyncWait = 10 * time.Second

// tokenKeysProxy is a fleet voice node's voicetoken.KeySource: the node is
// built before its Follower (which needs the node's controller), which
// set points it at. Until then every Ed25519 token is refused.
type tokenKeysProxy struct {
	target atomic.Pointer[fleet.Follower]
}

func (p *tokenKeysProxy) set(f *fleet.Follower) { p.target.Store(f) }

// VerifyingKey asks the Follower, once set.
func (p *tokenKeysProxy) VerifyingKey(kid string, now time.Time) (ed25519.PublicKey, error) {
	if f := p.target.Load(); f != nil {
		return f.VerifyingKey(kid, now)
	}
	return nil, fmt.Errorf("%w: %s (the fleet's keys are not followed yet)", voicetoken.ErrUnknownKey, kid)
}

// fleetKeyRing is chat's voice-token keys with --registry (nil without):
// it signs with its own Ed25519 key, published in etcd, and rotates on
// SIGHUP or `parley fleet rotate-key`. stop ends the SIGHUP handler and
// closes the ring (its key then retires when its last token expires).
func fleetKeyRing(ctx context.Context, env *serveEnv) (ring *fleet.KeyRing, stop func(context.Context) error, err error) {
	eps, err := fleetEndpoints()
	if err != nil || eps == nil {
		return nil, func(context.Context) error { return nil }, err
	}
	host, _ := os.Hostname()
	ring, err = fleet.NewKeyRing(fleet.KeyRingConfig{Endpoints: eps, TokenTTL: *fleetF.tokenTTL,
		Owner: fmt.Sprintf("%s/%d", cmp.Or(host, "chat"), os.Getpid()), Logger: env.log.With("component", "fleet"), Metrics: env.metrics})
	if err != nil {
		return nil, nil, fmt.Errorf("--registry: %w", err)
	}
	if err := ring.Start(ctx); err != nil {
		_ = ring.Close(ctx)
		return nil, nil, err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() { // owned by stop
		defer close(exited)
		for {
			select {
			case <-done:
				return
			case <-hup:
				env.log.Info("SIGHUP: rotating the voice-token key")
				ring.Rotate()
			}
		}
	}()
	return ring, func(ctx context.Context) error {
		signal.Stop(hup)
		close(done)
		<-exited
		return ring.Close(ctx)
	}, nil
}

// fleetDrainDefault bounds a drain whose context has no deadline.
const fleetDrainDefault = 30 * time.Second

// followFleet makes the voice node srv follow the control planes' voice
// commands in etcd (fleet.Follower) with --registry (nil without): server
// mute, deafen, disconnect and revocations reach it wherever chat runs, and
// it admits sessions with the stored mute and deafen when no chat runs in
// this process.
//
// It is also the node's voice-token keys (keys.set): the node registers
// once the published keys and the stored state are listed, or after
// fleetSyncWait (logged), so that a token chat issues verifies here.
func followFleet(ctx context.Context, env *serveEnv, srv *voicenode.Node, keys *tokenKeysProxy) (*fleet.Follower, error) {
	eps, err := fleetEndpoints()
	if err != nil || eps == nil {
		return nil, err
	}
	node, ok := srv.Controller().(voicectl.Bus)
	if !ok {
		return nil, fmt.Errorf("voice node's controller cannot revoke sessions")
	}
	f, err := fleet.NewFollower(fleet.FollowerConfig{Endpoints: eps, Node: node,
		Logger: env.log.With("component", "fleet"), Metrics: env.metrics})
	if err != nil {
		return nil, err
	}
	if err := f.Start(ctx); err != nil {
		_ = f.Close(ctx)
		return nil, err
	}
	env.admission.set(f) // chat in this process, if any, takes over
	keys.set(f)
	select {
	case <-f.Synced():
	case <-time.After(fleetSyncWait):
		env.log.Warn("fleet: voice commands and token keys not yet listed from etcd; registering all the same", "waited", fleetSyncWait)
	case <-ctx.Done():
	}
	return f, nil
}

// fleetBus is chat's voice moderation for the whole fleet with --registry
// (nil without): every voice node follows it.
func fleetBus(ctx context.Context, env *serveEnv) (*fleet.Bus, error) {
	eps, err := fleetEndpoints()
	if err != nil || eps == nil {
		return nil, err
	}
	// Stored mute and deafen outlive every token issued before them.
	b, err := fleet.NewBus(fleet.BusConfig{Endpoints: eps, StateTTL: max(time.Hour, *fleetF.tokenTTL), Logger: env.log.With("component", "fleet")})
	if err != nil {
		return nil, err
	}
	if err := b.Start(ctx); err != nil {
		_ = b.Close(ctx)
		return nil, err
	}
	return b, nil
}

// fleetRegistry is chat's view of the fleet with --registry (nil without).
func fleetRegistry(ctx context.Context, env *serveEnv) (*fleet.Registry, error) {
	eps, err := fleetEndpoints()
	if err != nil || eps == nil {
		return nil, err
	}
	r, err := fleet.NewRegistry(fleet.RegistryConfig{Endpoints: eps, Logger: env.log.With("component", "fleet"), Metrics: env.metrics})
	if err != nil {
		return nil, err
	}
	if err := r.Start(ctx); err != nil {
		_ = r.Close(ctx)
		return nil, err
	}
	return r, nil
}

func init() {
	register(&command{name: "fleet status", summary: "list the voice fleet's nodes: region, state, load, rooms (reads etcd)", run: runFleetStatus})
	register(&command{name: "voice nodes", summary: "the same as fleet status", run: runFleetStatus})
	register(&command{name: "voice drain", summary: "drain a voice node: its calls move to other nodes, then it exits (reads and writes etcd)", run: runVoiceDrain})
}

// registryFlag defines the --registry flag of a fleet subcommand.
func registryFlag(fs *flag.FlagSet) *string {
	return cli.String(fs, "registry", "PARLEY_REGISTRY", "", "the fleet's registry, etcd://HOST:PORT[,HOST:PORT...] (required)")
}

func registryEndpoints(reg string) ([]string, error) {
	if reg == "" {
		return nil, cli.Usagef("--registry etcd://HOST:PORT is required")
	}
	eps, err := fleet.ParseURL(reg)
	if err != nil {
		return nil, cli.Usagef("--registry: %v", err)
	}
	return eps, nil
}

func runVoiceDrain(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("voice drain", flag.ContinueOnError)
	reg := registryFlag(fs)
	node, err := cli.ParseOneArg(fs, args)
	if err != nil {
		return err
	}
	if *reg == "" || node == "" {
		return cli.Usagef("usage: parley voice drain --registry etcd://HOST:PORT NODE")
	}
	eps, err := registryEndpoints(*reg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := fleet.RequestDrain(ctx, eps, "", node); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "asked %s to drain: its calls move to other nodes, then it exits\n", node)
	return nil
}

func runFleetStatus(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("fleet status", flag.ContinueOnError)
	reg := registryFlag(fs)
	asJSON := cli.Bool(fs, "json", "", false, "print JSON instead of a table")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	eps, err := registryEndpoints(*reg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	nodes, err := fleet.Status(ctx, eps, "")
	if err != nil {
		return err
	}
	if *asJSON {
		if nodes == nil {
			nodes = []fleet.NodeStatus{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(nodes)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tREGION\tSTATE\tENDPOINT\tROOMS\tPARTICIPANTS\tCAPACITY\tPACKETS/S\tCPU\tPLACED\tUPDATED")
	for _, n := range nodes {
		capacity := "-"
		if n.Capacity > 0 {
			capacity = fmt.Sprint(n.Capacity)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%.0f\t%.0f%%\t%d\t%s\n", n.ID, n.Region, n.State, n.Endpoint,
			n.Load.Rooms, n.Load.Participants, capacity, n.Load.PacketsPerSecond, 100*n.Load.CPU, n.Placements,
			n.Updated.Format(time.RFC3339))
	}
	if len(nodes) == 0 {
		fmt.Fprintln(tw, "(no voice nodes registered)")
	}
	return tw.Flush()
}
