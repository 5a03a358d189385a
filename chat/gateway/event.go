package gateway

import (
	"encoding/json"

	"github.com/parleyhq/parley/chat/model"
)

// Event is one dispatch, encoded once and shared by every recipient.
type Event struct {
	// Name is the dispatch name, e.g. "MESSAGE_CREATE".
	Name string
	// GuildID scopes the event to the guild's subscribers (0: none).
	GuildID model.Snowflake
	// Intent is the intent a session needs to receive it (0: always).
	Intent model.Intent
	// Data is the encoded `d`.
	Data []byte
	// NoContent, if set, is sent instead of Data to sessions without the
	// MESSAGE_CONTENT intent, except to AuthorID's own sessions.
	NoContent []byte
	AuthorID  model.Snowflake
	// replay marks events that Resume may replay (not READY, GUILD_CREATE).
	replay bool
}

// NewEvent encodes d and returns a replayable event.
func NewEvent(name string, guild model.Snowflake, intent model.Intent, d any) (*Event, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	return &Event{Name: name, GuildID: guild, Intent: intent, Data: b, replay: true}, nil
}

// dataFor picks the encoding for a session.
func (e *Event) dataFor(intents model.Intent, user model.Snowflake) []byte {
	if e.NoContent != nil && !intents.Has(model.IntentMessageContent) && user != e.AuthorID {
		return e.NoContent
	}
	return e.Data
}
