package main

import (
	"context"
	"flag"
	"io"
	"time"

	"github.com/parleyhq/parley/internal/cli"
	"github.com/parleyhq/parley/internal/datadir"
	"github.com/parleyhq/parley/internal/voicetoken"
)

func init() {
	register(&command{name: "voice-token", summary: "issue voice credentials for a running server", run: runVoiceToken})
}

func runVoiceToken(_ context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("voice-token", flag.ContinueOnError)
	dataDir := cli.DataDir(fs)
	user := fs.String("user", "", "user id (required)")
	guild := fs.String("guild", "", "guild id, the voice server_id (required)")
	channel := fs.String("channel", "", "voice channel id (required)")
	ttl := fs.Duration("ttl", time.Hour, "token lifetime")
	endpoint := fs.String("endpoint", "", "override the endpoint (default: the running server's voice gateway)")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if *user == "" || *guild == "" || *channel == "" {
		fs.Usage()
		return cli.Usagef("--user, --guild and --channel are required")
	}
	if *ttl <= 0 {
		return cli.Usagef("--ttl must be positive")
	}
	creds, err := issueVoiceCredentials(*dataDir, *endpoint, *user, *guild, *channel, *ttl)
	if err != nil {
		return err
	}
	return cli.PrintJSON(stdout, creds)
}

func issueVoiceCredentials(dataDir, endpoint, user, guild, channel string, ttl time.Duration) (voicetoken.Credentials, error) {
	dir, err := datadir.Open(dataDir)
	if err != nil {
		return voicetoken.Credentials{}, err
	}
	if endpoint == "" {
		if endpoint, err = readyAddr(dir, "voice_gateway"); err != nil {
			return voicetoken.Credentials{}, err
		}
	}
	key, err := dir.Key(voicetoken.KeyName)
	if err != nil {
		return voicetoken.Credentials{}, err
	}
	s, err := voicetoken.NewSigner(key)
	if err != nil {
		return voicetoken.Credentials{}, err
	}
	return s.Credentials(endpoint, user, guild, channel, ttl, time.Now()), nil
}
