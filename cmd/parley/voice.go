package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"

	"github.com/parleyhq/parley/internal/cli"
	"github.com/parleyhq/parley/internal/connlimit"
	"github.com/parleyhq/parley/internal/voicetoken"
	"github.com/parleyhq/parley/signaling"
	"github.com/parleyhq/parley/voicenode"
)

// The voice server: WSS gateway plus UDP media, first component to start
// so that the chat control plane can hand out its endpoint.
func init() {
	var gatewayAddr, udpAddr, webrtcAddr, publicIP, endpoint *string
	var legacy, daveFlag *string
	var maxConns, maxPending *int
	registerComponent(&component{
		name:  "voice",
		order: 10,
		flags: func(fs *flag.FlagSet) {
			gatewayAddr = cli.String(fs, "voice-addr", "PARLEY_VOICE_ADDR", "127.0.0.1:8444", "voice gateway (WSS) listen address")
			udpAddr = cli.String(fs, "voice-udp-addr", "PARLEY_VOICE_UDP_ADDR", "127.0.0.1:50000", "voice media (UDP) listen address")
			webrtcAddr = cli.String(fs, "voice-webrtc-addr", "PARLEY_VOICE_WEBRTC_ADDR", "127.0.0.1:50001", "browsers' voice media (ICE, DTLS-SRTP over UDP) listen address; off: no browsers")
			publicIP = cli.String(fs, "voice-public-ip", "PARLEY_VOICE_PUBLIC_IP", "", "IP announced to clients for UDP and WebRTC (default: --public-host's, else the UDP listen IP)")
			endpoint = cli.String(fs, "voice-endpoint", "PARLEY_VOICE_ENDPOINT", "", "host:port clients connect to (default: --public-host with the gateway's port, else the gateway's address)")
			legacy = cli.String(fs, "voice-legacy-modes", "PARLEY_VOICE_LEGACY_MODES", "auto", "offer deprecated xsalsa20_poly1305 modes: on, off or auto (on with --dev)")
			maxConns = cli.Int(fs, "voice-max-conns-per-ip", "PARLEY_VOICE_MAX_CONNS_PER_IP", connlimit.Default.PerIP, "voice gateway connections one client IP may hold open (-1: no cap)")
			maxPending = cli.Int(fs, "voice-max-pending-per-ip", "PARLEY_VOICE_MAX_PENDING_PER_IP", connlimit.Default.PendingPerIP, "voice gateway connections one client IP may hold before they identify (-1: no cap)")
			daveFlag = cli.String(fs, "voice-dave", "PARLEY_VOICE_DAVE", "preferred", "DAVE end-to-end encryption: required (refuse clients without it, close 4017), preferred (downgrade rooms while a client without it is present) or off")
		},
		start: func(ctx context.Context, env *serveEnv) (*running, error) {
			key, err := env.dir.Key(voicetoken.KeyName)
			if err != nil {
				return nil, err
			}
			legacyOn := env.dev
			switch *legacy {
			case "on", "true":
				legacyOn = true
			case "off", "false":
				legacyOn = false
			case "auto":
			default:
				return nil, fmt.Errorf("--voice-legacy-modes: %q is not on, off or auto", *legacy)
			}
			policy, err := signaling.ParseDAVEPolicy(*daveFlag)
			if err != nil {
				return nil, fmt.Errorf("--voice-dave: %w", err)
			}
			webrtc := *webrtcAddr
			if webrtc == "off" {
				webrtc = ""
			}
			announce := *publicIP
			if announce == "" {
				if announce, err = env.public.voiceIP(ctx); err != nil {
					return nil, err
				}
			}
			// With --registry the node verifies the control planes'
			// Ed25519 tokens with the keys its Follower follows (set
			// below, before the node registers).
			var keys *tokenKeysProxy
			var tokenKeys voicetoken.KeySource
			if eps, err := fleetEndpoints(); err != nil {
				return nil, err
			} else if eps != nil {
				keys = &tokenKeysProxy{}
				tokenKeys = keys
			}
			srv, err := voicenode.New(voicenode.Config{
				GatewayAddr: *gatewayAddr, UDPAddr: *udpAddr, WebRTCAddr: webrtc, PublicIP: announce,
				TLS: env.tls, TokenKey: key, TokenKeys: tokenKeys, LegacyModes: legacyOn,
				Gateway: signaling.Config{DAVE: policy, Admitter: env.admission}, Logger: env.log, Metrics: env.metrics,
				Conns: connlimit.Config{PerIP: *maxConns, PendingPerIP: *maxPending},
			})
			if err != nil {
				return nil, err
			}
			if err := srv.Start(ctx); err != nil {
				_ = srv.Close(ctx)
				return nil, err
			}
			env.voice = srv.Controller()
			env.voiceEndpoint = *endpoint
			if env.voiceEndpoint == "" {
				env.voiceEndpoint = env.public.hostPort(srv.GatewayAddr())
			}
			env.voiceParticipants = srv.Participants
			env.voiceFront = srv
			addrs := map[string]string{"voice_gateway": env.voiceEndpoint, "voice_udp": srv.UDPAddr()}
			if a := srv.WebRTCAddr(); a != "" {
				addrs["webrtc_udp"] = a
			}
			// With --registry the node joins the fleet and serves only
			// while registered (fleet.go).
			// It follows the control planes' voice commands before it
			// registers, so the stored state is in before it serves.
			follower, err := followFleet(ctx, env, srv, keys)
			if err != nil {
				_ = srv.Close(ctx)
				return nil, err
			}
			member, err := joinFleet(ctx, env, srv, env.voiceEndpoint)
			if err != nil {
				if follower != nil {
					_ = follower.Close(ctx)
				}
				_ = srv.Close(ctx)
				return nil, err
			}
			return &running{
				addrs: addrs,
				stop: func(ctx context.Context) error {
					var err error
					if member != nil {
						drainNode(ctx, env, srv, member) // its calls move to other nodes first
						err = member.Close(ctx)          // leave first: no placement lands here while closing
					}
					if follower != nil {
						err = errors.Join(err, follower.Close(ctx))
					}
					return errors.Join(err, srv.Close(ctx))
				},
			}, nil
		},
	})
}

// adminToken is the bearer token of the admin API, derived from the data
// dir's admin key so CLI subcommands on the same machine can use it.
func adminToken(key []byte) string { return hex.EncodeToString(key) }
