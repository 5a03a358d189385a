package service

import (
	"errors"
	"fmt"

	"github.com/parleyhq/parley/chat/model"
)

// Sentinel errors; chat/rest maps them to Discord's JSON error codes.
// ErrUnauthorized wraps model.ErrUnauthorized, which the gateway checks.
var (
	ErrUnauthorized       = fmt.Errorf("service: %w", model.ErrUnauthorized)
	ErrUnknownGuild       = errors.New("service: unknown guild")
	ErrUnknownChannel     = errors.New("service: unknown channel")
	ErrUnknownMessage     = errors.New("service: unknown message")
	ErrUnknownMember      = errors.New("service: unknown member")
	ErrUnknownUser        = errors.New("service: unknown user")
	ErrMissingAccess      = errors.New("service: missing access")
	ErrMissingPermissions = errors.New("service: missing permissions")
	ErrEmptyMessage       = errors.New("service: cannot send an empty message")
	ErrNotAuthor          = errors.New("service: cannot edit a message authored by another user")
	ErrInvalidForm        = errors.New("service: invalid form body")
	ErrBadLogin           = errors.New("service: invalid login or password")
	// ErrBadPassword is a wrong current password in a password change
	// (an ErrInvalidForm about the field "password").
	ErrBadPassword = &FieldError{Field: "password", Code: "PASSWORD_DOES_NOT_MATCH", Message: "Password does not match."}
	// ErrBusy means too many password checks are running or waiting
	// (Config.PasswordHashers, PasswordQueue): try again shortly.
	ErrBusy = errors.New("service: too many logins in progress")
	// ErrAttachmentsDisabled means no attachment store is configured.
	ErrAttachmentsDisabled = errors.New("service: attachments are not enabled on this server")
	// ErrAttachmentRefused means the attachment store will not keep a
	// file (Attachments.Put wraps it; its text ends with the reason).
	ErrAttachmentRefused = errors.New("service: attachment refused")
	ErrNoVoice           = errors.New("service: no voice server available")
	ErrChannelFull       = errors.New("service: voice channel is full (user_limit)")
	ErrConfig            = errors.New("service: invalid configuration")
)

// FieldError is an ErrInvalidForm about one field (Discord's errors tree).
type FieldError struct {
	Field   string
	Code    string // e.g. BASE_TYPE_REQUIRED, BASE_TYPE_MAX_LENGTH
	Message string
}

func (e *FieldError) Error() string { return fmt.Sprintf("service: %s: %s", e.Field, e.Message) }

// Unwrap makes errors.Is(err, ErrInvalidForm) hold.
func (e *FieldError) Unwrap() error { return ErrInvalidForm }

func fieldErr(field, code, msg string) error {
	return &FieldError{Field: field, Code: code, Message: msg}
}
