package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/chat/service"
	"github.com/parleyhq/parley/mediaproxy"
)

// chatAttachments keeps chat's message attachments in the media proxy's
// store and signs their URLs for the media proxy: it is chat's
// service.Attachments (chat never imports mediaproxy). Files are read into
// memory whole (the store takes bytes), at most slots of them at once.
type chatAttachments struct {
	store  *mediaproxy.Store
	signer *mediaproxy.Signer
	// limits are the media proxy's: what it will serve is what is kept.
	limits mediaproxy.Limits
	// ttl is a signed URL's lifetime (the media proxy's SignedTTL).
	ttl time.Duration
	// base is the one function that says where attachments are served:
	// the URL prefix put before /attachments/CHANNEL/ID/NAME.
	base  func() string
	slots chan struct{}
	now   func() time.Time
}

// signWindow is how long one signature is reused: URLs signed within the
// same window are identical, so browsers cache the images, and each is
// valid for at least ttl - signWindow.
const signWindow = time.Hour

// attachmentSlots bounds the uploaded files held in memory at once.
const attachmentSlots = 4

func newChatAttachments(st *mediaproxy.Store, signer *mediaproxy.Signer, limits mediaproxy.Limits, ttl time.Duration, base func() string) *chatAttachments {
	return &chatAttachments{store: st, signer: signer, limits: limits, ttl: max(ttl, 2*signWindow), base: base,
		slots: make(chan struct{}, attachmentSlots), now: time.Now}
}

var _ service.Attachments = (*chatAttachments)(nil)

// Put stores one uploaded file: an image the media proxy can serve
// through the store's Put (which probes it and refuses what it would
// refuse to serve), anything else through putFile. The store's refusals
// are service.ErrAttachmentRefused with its reason.
func (a *chatAttachments) Put(ctx context.Context, channel model.Snowflake, filename, contentType string, r io.Reader) (model.Attachment, error) {
	select {
	case a.slots <- struct{}{}:
		defer func() { <-a.slots }()
	case <-ctx.Done():
		return model.Attachment{}, ctx.Err()
	}
	data, err := io.ReadAll(io.LimitReader(r, a.limits.MaxBytes+1))
	if err != nil {
		return model.Attachment{}, err // the transport's reader: it knows why
	}
	if int64(len(data)) > a.limits.MaxBytes {
		return model.Attachment{}, fmt.Errorf("%w: larger than %d bytes", service.ErrAttachmentRefused, a.limits.MaxBytes)
	}
	rec, err := a.store.Put(channel.String(), filename, data, a.limits, a.now())
	if errors.Is(err, mediaproxy.ErrUnsupported) {
		rec, err = a.putFile(channel.String(), filename, contentType, data)
	}
	if err != nil {
		return model.Attachment{}, refusal(err)
	}
	return a.attachment(rec, contentType), nil
}

// putFile keeps a file that is not an image the proxy decodes.
//
// MERGE (web-mediafiles): the media store is gaining a Put that keeps any
// bytes and records their content type; call it here, the one place
// non-image files go:
//
//	return a.store.PutFile(channel, filename, contentType, data, a.limits, a.now())
//
// Until then such files are refused, with a reason the client is shown.
func (a *chatAttachments) putFile(channel, filename, contentType string, data []byte) (mediaproxy.Attachment, error) {
	return mediaproxy.Attachment{}, fmt.Errorf("%w: only images (JPEG, PNG, GIF, WebP, AVIF) can be attached on this server", service.ErrAttachmentRefused)
}

// refusal maps the store's errors: what it refuses about the file is the
// client's (400 with the reason), anything else the server's.
func refusal(err error) error {
	if errors.Is(err, service.ErrAttachmentRefused) {
		return err
	}
	for _, e := range []error{mediaproxy.ErrBadRequest, mediaproxy.ErrUnsupported, mediaproxy.ErrUndecodable, mediaproxy.ErrImageBomb, mediaproxy.ErrTooLarge} {
		if errors.Is(err, e) {
			return fmt.Errorf("%w: %s", service.ErrAttachmentRefused, strings.TrimPrefix(err.Error(), "mediaproxy: "))
		}
	}
	return err
}

// imageTypes are the content types of the formats the store keeps as
// images.
var imageTypes = map[string]string{"jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif", "webp": "image/webp",
	"avif": "image/avif", "heic": "image/heic"}

// attachment is chat's record of a stored file: Ref locates it in the
// store (channel/id/name, as its URL path does).
func (a *chatAttachments) attachment(rec mediaproxy.Attachment, contentType string) model.Attachment {
	out := model.Attachment{Filename: rec.Filename, Size: rec.Size, ContentType: contentType,
		Ref: rec.ChannelID + "/" + rec.ID + "/" + rec.Filename}
	if id, err := model.ParseSnowflake(rec.ID); err == nil {
		out.ID = id
	}
	if ct, ok := imageTypes[rec.Format]; ok {
		out.ContentType = ct
		if rec.Width > 0 && rec.Height > 0 {
			w, h := rec.Width, rec.Height
			out.Width, out.Height = &w, &h
		}
	}
	return out
}

// URLs signs a stored attachment's URL for the media proxy. url and
// proxy_url are the same: the proxy serves the original, and sizes and
// formats on request (?width=&height=&format=).
func (a *chatAttachments) URLs(att model.Attachment) (string, string) {
	channel, rest, _ := strings.Cut(att.Ref, "/")
	id, name, ok := strings.Cut(rest, "/")
	if !ok {
		return "", ""
	}
	issued := a.now().Truncate(signWindow)
	u := a.base() + a.signer.SignAttachment(channel, id, name, issued, a.ttl)
	return u, u
}

// attachmentBase is where attachment URLs point today: --media-public-url
// when set, else the media listener of this process once it has started
// (serve starts chat before media; "" until then, and without media).
//
// MERGE (web-origin): the web listener serves the media proxy under
// /media/ on the page's HTTPS origin; the base becomes that origin plus
// "/media" ("https://HOST:PORT/media"), so the page has no mixed content.
type attachmentBase struct {
	v atomic.Pointer[string]
}

func (b *attachmentBase) get() string {
	if p := b.v.Load(); p != nil {
		return *p
	}
	return ""
}

func (b *attachmentBase) set(s string) { b.v.Store(&s) }

// chatMediaBase is the running chat's attachmentBase.
var chatMediaBase attachmentBase

func init() {
	// A second start step of the chat component, after media (order 30):
	// it learns the media listener's address (env.addrs is written and
	// read only by serve's goroutine, between component starts). Named
	// "chat", so --only chat,media runs it too.
	registerComponent(&component{name: "chat", order: 31, start: func(_ context.Context, env *serveEnv) (*running, error) {
		if chatMediaBase.get() == "" {
			if addr := env.addrs["media"]; addr != "" {
				chatMediaBase.set("http://" + addr)
			}
		}
		return &running{}, nil
	}})
}

// chatAttachmentsFor builds chat's attachment store over the data dir's
// media store, with the media proxy's limits and key. The per-file limit
// chat enforces is clamped to the media proxy's byte limit (logged at
// start-up), since the proxy would not serve a larger file.
func chatAttachmentsFor(env *serveEnv, maxFileBytes int64) (*chatAttachments, int64, error) {
	key, err := env.dir.Key(mediaproxy.KeyName)
	if err != nil {
		return nil, 0, err
	}
	signer, err := mediaproxy.NewSigner(key)
	if err != nil {
		return nil, 0, err
	}
	st, err := mediaproxy.OpenStore(env.dir.Join("media"))
	if err != nil {
		return nil, 0, err
	}
	limits := mediaproxy.DefaultLimits()
	if mediaFlagValues.maxBytes != nil && *mediaFlagValues.maxBytes > 0 {
		limits.MaxBytes = int64(*mediaFlagValues.maxBytes)
	}
	if maxFileBytes > limits.MaxBytes {
		env.log.Warn("chat: --chat-max-file-bytes is above the media proxy's byte limit; clamped to it",
			"chat_max_file_bytes", maxFileBytes, "media_max_bytes", limits.MaxBytes)
		maxFileBytes = limits.MaxBytes
	}
	if p := mediaFlagValues.publicURL; p != nil && *p != "" {
		chatMediaBase.set(strings.TrimSuffix(*p, "/"))
	}
	ttl := mediaproxy.DefaultConfig().SignedTTL
	return newChatAttachments(st, signer, limits, ttl, chatMediaBase.get), maxFileBytes, nil
}
