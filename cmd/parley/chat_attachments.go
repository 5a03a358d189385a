package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/chat/service"
	"github.com/parleyhq/parley/mediaproxy"
)

// chatAttachments keeps chat's message attachments in the media proxy's
// store and signs their URLs for the media proxy: it is chat's
// service.Attachments (chat never imports mediaproxy). Files are read into
// memory whole (the store takes bytes), at most slots of them at once;
// chat's REST API has received each one whole (spooled to disk) before it
// calls Put, so a slot is held only for reading a local file, probing and
// storing it, never while a client sends.
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

// Put stores one uploaded file through the store's PutFile: an image is
// probed and refused there as the proxy would refuse to serve it (a bomb,
// a HEIC this server cannot decode), anything else is kept as a file
// with the content type the store derives from its bytes. The store's
// refusals are service.ErrAttachmentRefused with its reason.
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
	rec, err := a.store.PutFile(channel.String(), filename, contentType, data, a.limits, a.now())
	if err != nil {
		return model.Attachment{}, refusal(err)
	}
	return a.attachment(rec), nil
}

// Delete removes stored files (their records at once, their blobs with
// the last record that refers to them): their URLs answer 404.
func (a *chatAttachments) Delete(ctx context.Context, files []model.Attachment) error {
	var errs []error
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, err)...)
		}
		channel, rest, _ := strings.Cut(f.Ref, "/")
		id, _, ok := strings.Cut(rest, "/")
		if !ok {
			continue // not a file of this store
		}
		if err := a.store.Delete(channel, id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// DeleteChannel removes every file stored for channel.
func (a *chatAttachments) DeleteChannel(ctx context.Context, channel model.Snowflake) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := a.store.DeleteChannel(channel.String())
	return err
}

// refusal maps the store's errors: what it refuses about the file is the
// client's (400 with the reason), anything else the server's.
func refusal(err error) error {
	if errors.Is(err, service.ErrAttachmentRefused) {
		return err
	}
	for _, e := range []error{mediaproxy.ErrBadRequest, mediaproxy.ErrUnsupported, mediaproxy.ErrUndecodable, mediaproxy.ErrImageBomb, mediaproxy.ErrTooLarge, mediaproxy.ErrHEICUnsupported} {
		if errors.Is(err, e) {
			return fmt.Errorf("%w: %s", service.ErrAttachmentRefused, strings.TrimPrefix(err.Error(), "mediaproxy: "))
		}
	}
	return err
}

// attachment is chat's record of a stored file: Ref locates it in the
// store (channel/id/name, as its URL path does).
func (a *chatAttachments) attachment(rec mediaproxy.Attachment) model.Attachment {
	out := model.Attachment{Filename: rec.Filename, Size: rec.Size, ContentType: rec.ContentType,
		Ref: rec.ChannelID + "/" + rec.ID + "/" + rec.Filename}
	if id, err := model.ParseSnowflake(rec.ID); err == nil {
		out.ID = id
	}
	if rec.Kind == mediaproxy.KindImage {
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
	st, err := env.mediaStore()
	if err != nil {
		return nil, 0, err
	}
	limits := mediaFlagValues.limits()
	if maxFileBytes > limits.MaxBytes {
		env.log.Warn("chat: --chat-max-file-bytes is above the media proxy's byte limit; clamped to it",
			"chat_max_file_bytes", maxFileBytes, "media_max_bytes", limits.MaxBytes)
		maxFileBytes = limits.MaxBytes
	}
	ttl := mediaproxy.DefaultConfig().SignedTTL
	return newChatAttachments(st, signer, limits, ttl, env.attachmentBase), maxFileBytes, nil
}
