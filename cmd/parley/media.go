package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/internal/cli"
	"github.com/parleyhq/parley/internal/datadir"
	"github.com/parleyhq/parley/mediaproxy"
)

func init() {
	register(&command{name: "mediaproxy", summary: "run the media proxy alone", run: runMediaProxy})
	register(&command{name: "media put", summary: "store a file as an attachment and print its signed URL", run: runMediaPut})
	register(&command{name: "media sign-external", summary: "print the signed proxy path for an external image URL", run: runMediaSignExternal})
	register(&command{name: "media upload-token", summary: "print the bearer token for POST /upload/{channel}", run: runMediaUploadToken})
	registerComponent(&component{name: "media", order: 30, flags: mediaFlags, bind: bindMedia, start: startMedia})
}

// mediaOpts are the media proxy's flags, shared by `serve` and `mediaproxy`.
type mediaOpts struct {
	addr      *string
	workers   *int
	queue     *int
	timeout   *time.Duration
	memCache  *int
	diskCache *int
	maxBytes  *int
	allow     *string
	publicURL *string
}

var mediaFlagValues mediaOpts

func mediaFlags(fs *flag.FlagSet) { mediaFlagValues = defineMediaFlags(fs) }

func defineMediaFlags(fs *flag.FlagSet) mediaOpts {
	d := mediaproxy.DefaultConfig()
	return mediaOpts{
		addr:      cli.String(fs, "media-addr", "PARLEY_MEDIA_ADDR", "127.0.0.1:8090", "media proxy listen address"),
		workers:   cli.Int(fs, "media-workers", "PARLEY_MEDIA_WORKERS", d.Workers, "concurrent libvips jobs"),
		queue:     cli.Int(fs, "media-queue", "PARLEY_MEDIA_QUEUE", d.Queue, "jobs that may wait before 503"),
		timeout:   cli.Duration(fs, "media-timeout", "PARLEY_MEDIA_TIMEOUT", d.Timeout, "per-request timeout"),
		memCache:  cli.Int(fs, "media-mem-cache-mb", "PARLEY_MEDIA_MEM_CACHE_MB", int(d.MemCacheBytes>>20), "memory cache size in MiB"),
		diskCache: cli.Int(fs, "media-disk-cache-mb", "PARLEY_MEDIA_DISK_CACHE_MB", int(d.DiskCacheBytes>>20), "disk cache size in MiB (0 disables)"),
		maxBytes:  cli.Int(fs, "media-max-bytes", "PARLEY_MEDIA_MAX_BYTES", int(d.Limits.MaxBytes), "largest source image in bytes"),
		allow:     cli.String(fs, "media-fetch-allow", "PARLEY_MEDIA_FETCH_ALLOW", "", "comma-separated CIDRs that external image fetches may reach although the SSRF guard denies them (private, loopback, link-local): an internal image host, or a test server"),
		publicURL: cli.String(fs, "media-public-url", "PARLEY_MEDIA_PUBLIC_URL", "", "base URL put in upload responses (default http://ADDR)"),
	}
}

// limits are the media proxy's limits under these flags: what it serves,
// and what chat's attachments may be.
func (o mediaOpts) limits() mediaproxy.Limits {
	l := mediaproxy.DefaultConfig().Limits
	if o.maxBytes != nil && *o.maxBytes > 0 {
		l.MaxBytes = int64(*o.maxBytes)
	}
	return l
}

// config is the media proxy's configuration over st, the data dir's
// attachment store (opened here when nil).
func (o mediaOpts) config(dir *datadir.Dir, st *mediaproxy.Store, log *slog.Logger, reg prometheus.Registerer) (mediaproxy.Config, error) {
	key, err := dir.Key(mediaproxy.KeyName)
	if err != nil {
		return mediaproxy.Config{}, err
	}
	if st == nil {
		if st, err = mediaproxy.OpenStore(dir.Join("media")); err != nil {
			return mediaproxy.Config{}, err
		}
	}
	c := mediaproxy.DefaultConfig()
	c.Addr, c.Key, c.Store, c.Logger, c.Registerer = *o.addr, key, st, log, reg
	c.CacheDir = dir.Join("media-cache")
	c.Workers, c.Queue, c.Timeout = *o.workers, *o.queue, *o.timeout
	c.MemCacheBytes, c.DiskCacheBytes = int64(*o.memCache)<<20, int64(*o.diskCache)<<20
	c.Limits = o.limits()
	c.Fetch.MaxBytes = c.Limits.MaxBytes
	c.UploadToken = mediaproxy.UploadToken(key)
	c.PublicURL = *o.publicURL
	for _, s := range splitComma(*o.allow) {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return c, cli.Usagef("--media-fetch-allow: %v", err)
		}
		c.Fetch.Allow = append(c.Fetch.Allow, p)
	}
	return c, nil
}

func startMediaServer(ctx context.Context, cfg mediaproxy.Config) (*mediaproxy.Server, error) {
	s, err := mediaproxy.New(cfg)
	if err != nil {
		return nil, err
	}
	if err := s.Start(ctx); err != nil {
		_ = s.Close(ctx)
		return nil, err
	}
	return s, nil
}

// bindMedia binds the media listener before any component starts and
// sets its public URL (--media-public-url, else http://ADDR), where
// attachment URLs point when the web origin does not run.
func bindMedia(env *serveEnv) error {
	addr := *mediaFlagValues.addr
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	env.keepListener("media", ln)
	env.mediaBase.Store(new(cmp.Or(strings.TrimSuffix(*mediaFlagValues.publicURL, "/"), "http://"+ln.Addr().String())))
	return nil
}

func startMedia(ctx context.Context, env *serveEnv) (*running, error) {
	st, err := env.mediaStore()
	if err != nil {
		return nil, err // runServe closes the bound listener
	}
	cfg, err := mediaFlagValues.config(env.dir, st, env.log.With("component", "media"), env.metrics)
	if err != nil {
		return nil, err
	}
	cfg.Listener = env.takeListener("media") // the server owns it from here
	s, err := startMediaServer(ctx, cfg)
	if err != nil {
		return nil, err
	}
	env.media = s
	return &running{addrs: map[string]string{"media": s.Addr()}, stop: s.Close}, nil
}

func runMediaProxy(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("mediaproxy", flag.ContinueOnError)
	dataDir := cli.DataDir(fs)
	logLevel := cli.String(fs, "log-level", "PARLEY_LOG_LEVEL", "info", "debug, info, warn or error")
	o := defineMediaFlags(fs)
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	log := newLogger(*logLevel, os.Stderr)
	dir, err := datadir.Open(*dataDir)
	if err != nil {
		return err
	}
	cfg, err := o.config(dir, nil, log, nil)
	if err != nil {
		return err
	}
	s, err := startMediaServer(ctx, cfg)
	if err != nil {
		return err
	}
	if err := cli.PrintJSON(stdout, map[string]any{"ready": true, "media": s.Addr(), "pid": os.Getpid()}); err != nil {
		log.Warn("stdout", "err", err)
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.Close(sctx)
}

func runMediaPut(_ context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("media put", flag.ContinueOnError)
	dataDir := cli.DataDir(fs)
	channel := fs.String("channel", "", "channel id (required)")
	name := fs.String("filename", "", "stored file name (default: the file's base name)")
	ttl := fs.Duration("ttl", 24*time.Hour, "signed URL lifetime")
	// Flags may follow the file argument.
	file, err := cli.ParseOneArg(fs, args)
	if err != nil {
		return err
	}
	if file == "" || *channel == "" {
		fs.Usage()
		return cli.Usagef("usage: parley media put FILE --channel C [--data-dir DIR]")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if *name == "" {
		*name = file
	}
	dir, err := datadir.Open(*dataDir)
	if err != nil {
		return err
	}
	key, err := dir.Key(mediaproxy.KeyName)
	if err != nil {
		return err
	}
	st, err := mediaproxy.OpenStore(dir.Join("media"))
	if err != nil {
		return err
	}
	a, err := st.Put(*channel, *name, data, mediaproxy.DefaultLimits(), time.Now())
	if err != nil {
		return err
	}
	signer, err := mediaproxy.NewSigner(key)
	if err != nil {
		return err
	}
	p := signer.SignAttachment(a.ChannelID, a.ID, a.Filename, time.Now(), *ttl)
	res := mediaproxy.UploadResult{Attachment: a, Path: p}
	if addr, err := dir.ReadyAddr("media"); err == nil {
		res.URL = "http://" + addr + p
	}
	return cli.PrintJSON(stdout, res)
}

func runMediaSignExternal(_ context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("media sign-external", flag.ContinueOnError)
	dataDir := cli.DataDir(fs)
	target, err := cli.ParseOneArg(fs, args)
	if err != nil {
		return err
	}
	if target == "" {
		return cli.Usagef("usage: parley media sign-external URL [--data-dir DIR]")
	}
	dir, err := datadir.Open(*dataDir)
	if err != nil {
		return err
	}
	key, err := dir.Key(mediaproxy.KeyName)
	if err != nil {
		return err
	}
	signer, err := mediaproxy.NewSigner(key)
	if err != nil {
		return err
	}
	p, err := signer.SignExternal(target)
	if err != nil {
		return err
	}
	out := map[string]string{"path": p, "target": target}
	if addr, err := dir.ReadyAddr("media"); err == nil {
		out["url"] = "http://" + addr + p
	}
	return cli.PrintJSON(stdout, out)
}

func runMediaUploadToken(_ context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("media upload-token", flag.ContinueOnError)
	dataDir := cli.DataDir(fs)
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	dir, err := datadir.Open(*dataDir)
	if err != nil {
		return err
	}
	key, err := dir.Key(mediaproxy.KeyName)
	if err != nil {
		return err
	}
	return cli.PrintJSON(stdout, map[string]string{"token": mediaproxy.UploadToken(key)})
}
