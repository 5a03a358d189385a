package chat

import "errors"

// ErrConfig means the server configuration is invalid.
var ErrConfig = errors.New("chat: invalid configuration")
