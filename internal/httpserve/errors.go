package httpserve

import "errors"

// ErrConfig means a Config is invalid.
var ErrConfig = errors.New("httpserve: invalid configuration")
