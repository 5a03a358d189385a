package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/parleyhq/parley/chat/service"
	"github.com/parleyhq/parley/chat/store"
	"github.com/parleyhq/parley/internal/cli"
	"github.com/parleyhq/parley/internal/datadir"
)

func init() {
	register(&command{name: "bot create", summary: "create a chat bot account and print its token", run: runBotCreate})
}

// botCreated is what `parley bot create --json` prints.
type botCreated struct {
	Token  string `json:"token"`
	UserID string `json:"user_id"`
	Name   string `json:"name"`
}

func runBotCreate(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bot create", flag.ContinueOnError)
	dataDir := cli.DataDir(fs)
	name := fs.String("name", "", "bot username (required)")
	admin := fs.Bool("admin", false, "give the bot the default guild's Admin role")
	asJSON := fs.Bool("json", false, "print {token, user_id, name} instead of the bare token")
	dsn := cli.String(fs, "chat-postgres-dsn", "PARLEY_CHAT_POSTGRES_DSN", "", "PostgreSQL DSN when no server is running and chat data is in PostgreSQL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *name == "" {
		fs.Usage()
		return fmt.Errorf("--name is required: %w", errUsage)
	}
	dir, err := datadir.Open(*dataDir)
	if err != nil {
		return err
	}
	var out botCreated
	if api, err := dir.ReadyAddr("api"); err == nil {
		out, err = botCreateRemote(ctx, dir, api, *name, *admin)
		if err != nil {
			return err
		}
	} else {
		// No server running: write to the store directly; the server
		// loads it on start.
		st, err := store.Open(ctx, store.Config{PostgresDSN: *dsn, SQLitePath: dir.Join("chat.db")})
		if err != nil {
			return err
		}
		defer st.Close()
		svc, err := service.New(ctx, service.Config{Store: st})
		if err != nil {
			return err
		}
		u, tok, err := svc.CreateBot(ctx, *name, *admin)
		if err != nil {
			return err
		}
		out = botCreated{Token: tok, UserID: u.ID.String(), Name: u.Username}
	}
	if *asJSON {
		return cli.PrintJSON(stdout, out)
	}
	_, err = fmt.Fprintln(stdout, out.Token)
	return err
}

func botCreateRemote(ctx context.Context, dir *datadir.Dir, api, name string, admin bool) (botCreated, error) {
	key, err := dir.Key(chatAdminKey)
	if err != nil {
		return botCreated{}, err
	}
	body, _ := json.Marshal(map[string]any{"name": name, "admin": admin})
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+api+"/api/v10/_parley/bots", bytes.NewReader(body))
	if err != nil {
		return botCreated{}, err
	}
	req.Header.Set("Authorization", "Admin "+hex.EncodeToString(key))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return botCreated{}, fmt.Errorf("%w (%v)", errNoServer, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated {
		return botCreated{}, errors.New("bot create: " + resp.Status + ": " + string(b))
	}
	var r struct {
		Token  string `json:"token"`
		UserID string `json:"user_id"`
		User   struct {
			Username string `json:"username"`
		} `json:"user"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return botCreated{}, err
	}
	return botCreated{Token: r.Token, UserID: r.UserID, Name: r.User.Username}, nil
}
