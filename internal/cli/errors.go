package cli

import (
	"errors"
	"fmt"
)

var (
	// ErrUsage: the command line is wrong (a bad or missing flag, an
	// argument too many). Every *UsageError is ErrUsage; a command exits
	// 2 on it, and 1 on any other failure.
	ErrUsage = errors.New("usage")
	// ErrExtraArg: a positional argument the command does not take (any,
	// or a second one).
	ErrExtraArg = errors.New("unexpected argument")
)

// UsageError is a mistake on the command line. Its message is the whole
// story (no ": usage" tail); errors.Is(err, ErrUsage) holds, and so does
// errors.Is(err, Err) for the sentinel it carries, if any.
type UsageError struct {
	Msg string
	Err error // the sentinel behind it (ErrExtraArg), or nil
}

func (e *UsageError) Error() string { return e.Msg }

// Is reports that every UsageError is ErrUsage.
func (e *UsageError) Is(target error) bool { return target == ErrUsage }

func (e *UsageError) Unwrap() error { return e.Err }

// Usagef returns a *UsageError with the formatted message.
func Usagef(format string, a ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, a...)}
}
