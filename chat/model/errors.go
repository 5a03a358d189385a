package model

import "errors"

// ErrBadSnowflake means a string is not a valid non-zero decimal id.
var ErrBadSnowflake = errors.New("model: invalid snowflake")
