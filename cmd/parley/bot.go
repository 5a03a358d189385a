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

	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/chat/service"
	"github.com/parleyhq/parley/chat/store"
	"github.com/parleyhq/parley/internal/cli"
	"github.com/parleyhq/parley/internal/datadir"
)

func init() {
	register(&command{name: "bot create", summary: "create a chat bot account and print its token", run: runBotCreate})
	register(&command{name: "bot reset", summary: "revoke a chat bot's tokens (its sessions close) and print a new one", run: runBotReset})
}

// botCreated is what `parley bot create --json` prints.
type botCreated struct {
	Token  string `json:"token"`
	UserID string `json:"user_id"`
	Name   string `json:"name"`
}

func runBotCreate(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bot create", flag.ContinueOnError)
	admin := fs.Bool("admin", false, "give the bot the default guild's Admin role")
	return runBot(ctx, fs, args, stdout, "/_parley/bots", http.StatusCreated, func() map[string]any { return map[string]any{"admin": *admin} },
		func(ctx context.Context, svc *service.Service, name string) (model.User, string, error) {
			return svc.CreateBot(ctx, name, *admin)
		})
}

func runBotReset(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bot reset", flag.ContinueOnError)
	return runBot(ctx, fs, args, stdout, "/_parley/bots/reset", http.StatusOK, nil,
		func(ctx context.Context, svc *service.Service, name string) (model.User, string, error) {
			return svc.ResetBotToken(ctx, name)
		})
}

// runBot is `parley bot create` and `parley bot reset`: through the admin
// route of the running server (path; extra adds body fields beside
// "name"), or on the store directly (offline) when none runs; the server
// loads the store on start.
func runBot(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer, path string, status int, extra func() map[string]any,
	offline func(ctx context.Context, svc *service.Service, name string) (model.User, string, error)) error {
	dataDir := cli.DataDir(fs)
	name := fs.String("name", "", "bot username (required)")
	asJSON := fs.Bool("json", false, "print {token, user_id, name} instead of the bare token")
	dsn := cli.String(fs, "chat-postgres-dsn", "PARLEY_CHAT_POSTGRES_DSN", "", "PostgreSQL DSN when no server is running and chat data is in PostgreSQL")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if *name == "" {
		fs.Usage()
		return cli.Usagef("--name is required")
	}
	dir, err := datadir.Open(*dataDir)
	if err != nil {
		return err
	}
	var out botCreated
	if api, err := dir.ReadyAddr("api"); err == nil {
		req := map[string]any{"name": *name}
		if extra != nil {
			for k, v := range extra() {
				req[k] = v
			}
		}
		out, err = botRemote(ctx, dir, api, path, status, req)
		if err != nil {
			return err
		}
	} else {
		st, err := store.Open(ctx, store.Config{PostgresDSN: *dsn, SQLitePath: dir.Join("chat.db")})
		if err != nil {
			return err
		}
		defer st.Close()
		svc, err := service.New(ctx, service.Config{Store: st})
		if err != nil {
			return err
		}
		u, tok, err := offline(ctx, svc, *name)
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

func botRemote(ctx context.Context, dir *datadir.Dir, api, path string, status int, fields map[string]any) (botCreated, error) {
	key, err := dir.Key(chatAdminKey)
	if err != nil {
		return botCreated{}, err
	}
	body, _ := json.Marshal(fields)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+api+"/api/v10"+path, bytes.NewReader(body))
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
	if resp.StatusCode != status {
		return botCreated{}, errors.New(path + ": " + resp.Status + ": " + string(b))
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
