package model

// Attachment is a file attached to a message (Discord's attachment
// object). Messages store the record; URL and ProxyURL are signed when a
// message is read or dispatched, since signed URLs expire.
type Attachment struct {
	ID          Snowflake `json:"id"`
	Filename    string    `json:"filename"`
	Description *string   `json:"description,omitempty"`
	ContentType string    `json:"content_type,omitempty"`
	Size        int64     `json:"size"`
	URL         string    `json:"url"`
	ProxyURL    string    `json:"proxy_url"`
	// Width and Height are an image's size; null for other files.
	Width     *int `json:"width"`
	Height    *int `json:"height"`
	Ephemeral bool `json:"ephemeral"`
	// Ref locates the file in the attachment store: opaque to everything
	// but the store's adapter, kept with the message, never sent.
	Ref string `json:"-"`
}
