package main

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/parleyhq/parley/internal/cli"
	"github.com/parleyhq/parley/internal/datadir"
	"github.com/parleyhq/parley/internal/voicectl"
)

// The admin API: operator actions on voice sessions (server mute, deafen,
// disconnect, list), authenticated with a bearer token derived from the
// data dir's admin key. The `parley voice mute|deafen|kick|list`
// subcommands use it.
func init() {
	var addr *string
	registerComponent(&component{
		name:  "admin",
		order: 90,
		flags: func(fs *flag.FlagSet) {
			addr = cli.String(fs, "admin-addr", "PARLEY_ADMIN_ADDR", "127.0.0.1:0", "admin API listen address")
		},
		start: func(_ context.Context, env *serveEnv) (*running, error) {
			key, err := env.dir.Key("admin")
			if err != nil {
				return nil, err
			}
			ln, err := net.Listen("tcp", *addr)
			if err != nil {
				return nil, fmt.Errorf("admin: %w", err)
			}
			srv := startHTTP(ln, adminHandler(env, adminToken(key)), defaultHTTPTimeouts, env.log)
			return &running{addrs: map[string]string{"admin": ln.Addr().String()}, stop: srv.close}, nil
		},
	})
	for _, a := range []struct{ name, summary string }{
		{"voice mute", "server-mute a voice user (--off to undo)"},
		{"voice deafen", "server-deafen a voice user (--off to undo)"},
		{"voice kick", "disconnect a voice user (close 4014)"},
		{"voice list", "list connected voice users"},
	} {
		action := a.name[len("voice "):]
		register(&command{name: a.name, summary: a.summary, run: func(ctx context.Context, args []string, stdout io.Writer) error {
			return runAdminVoice(ctx, action, args, stdout)
		}})
	}
}

var errUnknownAction = errors.New("unknown action")

type adminVoiceRequest struct {
	GuildID string `json:"guild_id"`
	UserID  string `json:"user_id"`
	On      *bool  `json:"on,omitempty"`
}

func adminHandler(env *serveEnv, token string) http.Handler {
	mux := http.NewServeMux()
	writeJSON := func(w http.ResponseWriter, code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(v)
	}
	fail := func(w http.ResponseWriter, code int, msg string) {
		writeJSON(w, code, map[string]any{"code": code, "message": msg})
	}
	auth := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			want := "Bearer " + token
			if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte(want)) != 1 {
				fail(w, http.StatusUnauthorized, "missing or bad admin token")
				return
			}
			if env.voice == nil {
				fail(w, http.StatusServiceUnavailable, "voice is not running")
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("GET /admin/voice/participants", auth(func(w http.ResponseWriter, r *http.Request) {
		list := []voicectl.Participant{}
		if env.voiceParticipants != nil {
			list = env.voiceParticipants()
		}
		writeJSON(w, http.StatusOK, list)
	}))
	mux.HandleFunc("POST /admin/voice/{action}", auth(func(w http.ResponseWriter, r *http.Request) {
		var req adminVoiceRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil || req.GuildID == "" || req.UserID == "" {
			fail(w, http.StatusBadRequest, "body must be {guild_id, user_id, on}")
			return
		}
		on := req.On == nil || *req.On
		act := func(ctl voicectl.Controller) error {
			switch r.PathValue("action") {
			case "mute":
				return ctl.SetServerMute(r.Context(), req.GuildID, req.UserID, on)
			case "deafen":
				return ctl.SetServerDeaf(r.Context(), req.GuildID, req.UserID, on)
			case "kick":
				return ctl.Disconnect(r.Context(), req.GuildID, req.UserID)
			}
			return errUnknownAction
		}
		// Chat's stored state is the truth for its guilds: moderation goes
		// through chat (stored, told to the guild, pushed to the session);
		// the voice node's own table serves guilds chat does not manage.
		var err error = voicectl.ErrNotManaged
		if env.chatModeration != nil {
			err = act(env.chatModeration)
		}
		if errors.Is(err, voicectl.ErrNotManaged) {
			err = act(env.voice)
		}
		if errors.Is(err, errUnknownAction) {
			fail(w, http.StatusNotFound, "unknown action")
			return
		}
		if errors.Is(err, voicectl.ErrNotConnected) {
			fail(w, http.StatusNotFound, err.Error())
			return
		} else if err != nil {
			fail(w, http.StatusInternalServerError, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true})
	}))
	return mux
}

func runAdminVoice(ctx context.Context, action string, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("voice "+action, flag.ContinueOnError)
	dataDir := cli.DataDir(fs)
	// Each action gets only the flags it reads: list takes no user, and
	// only mute and deafen can be undone.
	var guild, user *string
	if action != "list" {
		guild = fs.String("guild", "", "guild id (required)")
		user = fs.String("user", "", "user id (required)")
	}
	off := new(bool)
	if action == "mute" || action == "deafen" {
		off = fs.Bool("off", false, "undo: un"+action+" the user")
	}
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if action != "list" && (*guild == "" || *user == "") {
		fs.Usage()
		return cli.Usagef("--guild and --user are required")
	}
	dir, err := datadir.Open(*dataDir)
	if err != nil {
		return err
	}
	addr, err := readyAddr(dir, "admin")
	if err != nil {
		return err
	}
	key, err := dir.Key("admin")
	if err != nil {
		return err
	}
	method, path, body := http.MethodGet, "/admin/voice/participants", []byte(nil)
	if action != "list" {
		on := !*off
		body, _ = json.Marshal(adminVoiceRequest{GuildID: *guild, UserID: *user, On: &on})
		method, path = http.MethodPost, "/admin/voice/"+action
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken(key))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("admin API: %s: %s", resp.Status, bytes.TrimSpace(out))
	}
	_, err = stdout.Write(out)
	return err
}
