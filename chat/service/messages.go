package service

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/chat/store"
)

// MessageCreate is the body of POST /channels/{id}/messages (the JSON
// body, or a multipart body's payload_json).
type MessageCreate struct {
	Content string          `json:"content"`
	TTS     bool            `json:"tts"`
	Nonce   json.RawMessage `json:"nonce"`
	Embeds  json.RawMessage `json:"embeds"`
	// Attachments names uploaded files by index (files[N]) to give them
	// a filename or description.
	Attachments []AttachmentRef `json:"attachments"`
	// Files are the files uploaded with the message, in files[N] order,
	// as PutAttachment stored them (the transport fills it).
	Files []model.Attachment `json:"-"`
}

// MessageEdit is the body of PATCH /channels/{id}/messages/{mid}; nil
// fields are unchanged. Attachments lists the attachments to keep (by id).
type MessageEdit struct {
	Content     *string          `json:"content"`
	Embeds      json.RawMessage  `json:"embeds"`
	Attachments *[]AttachmentRef `json:"attachments"`
}

// Limits of what a message carries to every member (Discord's). Every
// client-chosen field of a dispatched event is bounded: each copy is
// written to every recipient and held in their replay logs.
const (
	// MaxContent is the message length limit in characters.
	MaxContent = 2000
	// MaxNonce is the nonce length limit in characters (string or integer).
	MaxNonce = 25
	// MaxEmbedBytes bounds the embeds' JSON, MaxEmbeds their number.
	MaxEmbedBytes, MaxEmbeds = 6000, 10
)

var mentionRe = regexp.MustCompile(`<@!?(\d{1,20})>`)

// checkedMessage is a MessageCreate that passed CreateMessage's checks.
type checkedMessage struct {
	embeds string
	nonce  json.RawMessage
	files  []model.Attachment
	access channelView
}

// checkMessage runs every check of CreateMessage that needs no store.
func (s *Service) checkMessage(author, channel model.Snowflake, req MessageCreate) (checkedMessage, error) {
	var c checkedMessage
	var err error
	if c.embeds, err = checkEmbeds(req.Embeds); err != nil {
		return c, err
	}
	if c.nonce, err = checkNonce(req.Nonce); err != nil {
		return c, err
	}
	if c.files, err = attach(req.Files, req.Attachments); err != nil {
		return c, err
	}
	if strings.TrimSpace(req.Content) == "" && c.embeds == "[]" && len(c.files) == 0 {
		return c, ErrEmptyMessage
	}
	if utf8.RuneCountInString(req.Content) > MaxContent {
		return c, fieldErr("content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")
	}
	c.access, err = s.graph.channelAccess(author, channel, model.PermViewChannel|model.PermSendMessages)
	return c, err
}

// CheckMessage runs CreateMessage's checks of req (but for the store's)
// without storing anything: a transport that must store a message's files
// first (PutAttachment) checks it before, so a message that would be
// refused stores no file. Only the number of req.Files matters here.
func (s *Service) CheckMessage(author, channel model.Snowflake, req MessageCreate) error {
	_, err := s.checkMessage(author, channel, req)
	return err
}

// CreateMessage stores a message, then dispatches MESSAGE_CREATE. The
// returned object is what REST answers and what the gateway carries.
// When it fails, the files of req are the caller's to delete
// (DeleteAttachments).
func (s *Service) CreateMessage(ctx context.Context, author, channel model.Snowflake, req MessageCreate) (model.Message, error) {
	c, err := s.checkMessage(author, channel, req)
	if err != nil {
		return model.Message{}, err
	}
	v, embeds, nonce, files := c.access, c.embeds, c.nonce, c.files
	guild := v.channel.GuildID
	m := model.Message{ID: s.gen.Next(), ChannelID: channel, AuthorID: author, Content: req.Content, TTS: req.TTS, Embeds: json.RawMessage(embeds),
		Attachments: files}
	m.MentionEveryone = strings.Contains(req.Content, "@everyone") && v.perms&model.PermMentionEveryone != 0
	var ids []model.Snowflake
	for _, sub := range mentionRe.FindAllStringSubmatch(req.Content, 20) {
		if id, err := model.ParseSnowflake(sub[1]); err == nil {
			ids = append(ids, id)
		}
	}
	for _, id := range s.graph.membersAmong(guild, ids) {
		u, _ := s.accounts.user(id)
		m.Mentions = append(m.Mentions, u)
	}
	if err := s.st.CreateMessage(ctx, m); err != nil {
		return model.Message{}, err
	}
	s.graph.setLastMessage(channel, m.ID)
	m = s.render(m, guild)
	m.Nonce = nonce
	s.dispatchMessage("MESSAGE_CREATE", m)
	return m, nil
}

func checkEmbeds(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "[]", nil
	}
	var list []json.RawMessage
	if len(raw) > MaxEmbedBytes || json.Unmarshal(raw, &list) != nil || len(list) > MaxEmbeds {
		return "", fieldErr("embeds", "BASE_TYPE_BAD_LENGTH", "Must be a list of at most 10 embeds.")
	}
	return string(raw), nil
}

// checkNonce accepts what Discord does: a string or an integer of at most
// MaxNonce characters (null or absent: none). It returns the nonce as sent.
func checkNonce(raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	bad := fieldErr("nonce", "BASE_TYPE_MAX_LENGTH", "Must be a string or an integer of 25 or fewer characters.")
	if len(raw) > 8*MaxNonce {
		return nil, bad // longer than any valid encoding (escapes included)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if utf8.RuneCountInString(s) > MaxNonce {
			return nil, bad
		}
		return append(json.RawMessage(nil), raw...), nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil || len(n) > MaxNonce || strings.ContainsAny(string(n), ".eE") {
		return nil, bad // not an integer
	}
	return json.RawMessage(n.String()), nil
}

// render fills author, member, guild id and the empty arrays.
func (s *Service) render(m model.Message, guild model.Snowflake) model.Message {
	u, _ := s.accounts.user(m.AuthorID)
	m.Author = &u
	for i, mu := range m.Mentions {
		if full, ok := s.accounts.user(mu.ID); ok {
			m.Mentions[i] = full
		}
	}
	if guild != 0 {
		g := guild
		m.GuildID = &g
	}
	m.Timestamp = model.Timestamp(m.ID.Time())
	if !m.EditedAt.IsZero() {
		ts := model.Timestamp(m.EditedAt)
		m.EditedTimestamp = &ts
	}
	if m.Mentions == nil {
		m.Mentions = []model.User{}
	}
	if len(m.Embeds) == 0 {
		m.Embeds = json.RawMessage("[]")
	}
	m.MentionRoles, m.Components = []model.Snowflake{}, []any{}
	m.Attachments = s.signAttachments(m.Attachments)
	return m
}

// dispatchMessage sends a message event; sessions without MESSAGE_CONTENT
// get content, embeds and attachments blanked, as Discord's (unless it is
// their own message).
func (s *Service) dispatchMessage(name string, m model.Message) {
	if m.GuildID == nil {
		return
	}
	if mem, ok := s.graph.member(*m.GuildID, m.AuthorID); ok {
		obj := mem.Object(nil)
		m.Member = &obj
	}
	ev := event(name, *m.GuildID, model.IntentGuildMessages, m)
	nc := m
	nc.Content, nc.Embeds, nc.Attachments = "", json.RawMessage("[]"), []model.Attachment{}
	ev.NoContent, _ = json.Marshal(nc)
	ev.AuthorID = m.AuthorID
	s.dispatcher().Dispatch(ev)
}

// readable checks access to a channel's history and returns its guild.
func (s *Service) readable(user, channel model.Snowflake) (model.Snowflake, error) {
	v, err := s.graph.channelAccess(user, channel, model.PermViewChannel|model.PermReadMessageHistory)
	if err != nil {
		return 0, err
	}
	return v.channel.GuildID, nil
}

// GetMessage is GET /channels/{id}/messages/{mid}.
func (s *Service) GetMessage(ctx context.Context, user, channel, id model.Snowflake) (model.Message, error) {
	guild, err := s.readable(user, channel)
	if err != nil {
		return model.Message{}, err
	}
	m, err := s.st.GetMessage(ctx, store.KeyOf(channel, id))
	if errors.Is(err, store.ErrNotFound) {
		return model.Message{}, ErrUnknownMessage
	} else if err != nil {
		return model.Message{}, err
	}
	return s.render(m, guild), nil
}

// ListMessages is GET /channels/{id}/messages.
func (s *Service) ListMessages(ctx context.Context, user, channel model.Snowflake, p store.Page) ([]model.Message, error) {
	guild, err := s.readable(user, channel)
	if err != nil {
		return nil, err
	}
	ms, err := s.st.ListMessages(ctx, channel, p)
	if errors.Is(err, store.ErrBadPage) {
		return nil, fieldErr("around", "BASE_TYPE_BAD_CHOICE", "around, before and after are mutually exclusive.")
	} else if err != nil {
		return nil, err
	}
	out := make([]model.Message, len(ms))
	for i, m := range ms {
		out[i] = s.render(m, guild)
	}
	return out, nil
}

// EditMessage is PATCH /channels/{id}/messages/{mid} (author only). The
// attachments stay unless the edit lists the ones to keep.
func (s *Service) EditMessage(ctx context.Context, user, channel, id model.Snowflake, e MessageEdit) (model.Message, error) {
	m, err := s.GetMessage(ctx, user, channel, id)
	if err != nil {
		return model.Message{}, err
	}
	if m.AuthorID != user {
		return model.Message{}, ErrNotAuthor
	}
	if e.Content != nil {
		if utf8.RuneCountInString(*e.Content) > MaxContent {
			return model.Message{}, fieldErr("content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")
		}
		m.Content = *e.Content
	}
	if e.Embeds != nil {
		em, err := checkEmbeds(e.Embeds)
		if err != nil {
			return model.Message{}, err
		}
		m.Embeds = json.RawMessage(em)
	}
	var dropped []model.Attachment
	if e.Attachments != nil {
		kept := keepAttachments(m.Attachments, *e.Attachments)
		dropped = droppedAttachments(m.Attachments, kept)
		m.Attachments = kept
	}
	m.EditedAt = time.Now().UTC()
	if err := s.st.UpdateMessage(ctx, m); errors.Is(err, store.ErrNotFound) {
		return model.Message{}, ErrUnknownMessage
	} else if err != nil {
		return model.Message{}, err
	}
	s.deleter.add(ctx, deleteJob{files: dropped})
	m = s.render(m, *m.GuildID)
	s.dispatchMessage("MESSAGE_UPDATE", m)
	return m, nil
}

// DeleteMessage is DELETE /channels/{id}/messages/{mid} (author or
// MANAGE_MESSAGES).
func (s *Service) DeleteMessage(ctx context.Context, user, channel, id model.Snowflake) error {
	m, err := s.GetMessage(ctx, user, channel, id)
	if err != nil {
		return err
	}
	if m.AuthorID != user {
		if _, err := s.graph.channelAccess(user, channel, model.PermManageMessages); err != nil {
			return err
		}
	}
	if err := s.st.DeleteMessage(ctx, store.KeyOf(channel, id)); errors.Is(err, store.ErrNotFound) {
		return ErrUnknownMessage
	} else if err != nil {
		return err
	}
	s.deleter.add(ctx, deleteJob{files: m.Attachments})
	s.refreshLastMessage(ctx, channel, id)
	s.dispatcher().Dispatch(event("MESSAGE_DELETE", *m.GuildID, model.IntentGuildMessages,
		map[string]any{"id": id, "channel_id": channel, "guild_id": *m.GuildID}))
	return nil
}

// refreshLastMessage moves a channel's last_message_id back to the newest
// message left when deleted was the last one (a message created meanwhile
// is newer and stays).
func (s *Service) refreshLastMessage(ctx context.Context, channel, deleted model.Snowflake) {
	c, err := s.graph.channel(channel)
	if err != nil || c.LastMessageID == nil || *c.LastMessageID != deleted {
		return
	}
	ms, err := s.st.ListMessages(ctx, channel, store.Page{Limit: 1})
	if err != nil {
		s.log.Warn("last message after a delete", "channel", channel, "err", err)
		return
	}
	var last *model.Snowflake
	if len(ms) == 1 {
		id := ms[0].ID
		last = &id
	}
	s.graph.replaceLastMessage(channel, deleted, last)
}

// Typing is POST /channels/{id}/typing.
func (s *Service) Typing(user, channel model.Snowflake) error {
	v, err := s.graph.channelAccess(user, channel, model.PermSendMessages)
	if err != nil {
		return err
	}
	guild := v.channel.GuildID
	s.dispatcher().Dispatch(event("TYPING_START", guild, model.IntentGuildMessageTyping, map[string]any{
		"channel_id": channel, "guild_id": guild, "user_id": user, "timestamp": time.Now().Unix(), "member": s.memberObject(v.member)}))
	return nil
}
