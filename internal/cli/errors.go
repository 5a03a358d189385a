package cli

import "errors"

// ErrExtraArg: a positional argument the command does not take (any, or
// a second one).
var ErrExtraArg = errors.New("unexpected argument")
