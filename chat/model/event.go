package model

import "encoding/json"

// Event is one gateway dispatch, encoded once and shared by every
// recipient. The chat service makes them; the gateway fans them out.
type Event struct {
	// Name is the dispatch name, e.g. "MESSAGE_CREATE".
	Name string
	// GuildID scopes the event to the guild's subscribers (0: none).
	GuildID Snowflake
	// Intent is the intent a session needs to receive it (0: always).
	Intent Intent
	// Data is the encoded `d`.
	Data []byte
	// NoContent, if set, is sent instead of Data to sessions without the
	// MESSAGE_CONTENT intent, except to AuthorID's own sessions.
	NoContent []byte
	AuthorID  Snowflake
}

// NewEvent encodes d into an event.
func NewEvent(name string, guild Snowflake, intent Intent, d any) (*Event, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	return &Event{Name: name, GuildID: guild, Intent: intent, Data: b}, nil
}

// DataFor picks the encoding for a recipient with intents who is user.
func (e *Event) DataFor(intents Intent, user Snowflake) []byte {
	if e.NoContent != nil && !intents.Has(IntentMessageContent) && user != e.AuthorID {
		return e.NoContent
	}
	return e.Data
}
