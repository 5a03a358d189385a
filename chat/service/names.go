package service

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/parleyhq/parley/chat/model"
)

// Names people see other people by — usernames, nicknames, guild and
// channel names — are stored in NFKC and may hold only visible characters
// and single spaces between them: no control characters, no format
// characters (zero-width spaces and joiners, bidirectional overrides and
// isolates), no default-ignorable or blank letters (Hangul fillers, the
// braille blank), no private-use, surrogate or unassigned code points, no
// other spaces, no leading mark. Usernames are also unique and compared
// case-insensitively (model.UsernameKey), and the names reserved below
// cannot be taken in any case or width.

// reservedNames are usernames no one may register: the seeded guild's
// owner, and the mention keywords.
var reservedNames = []string{SystemUsername, "everyone", "here"}

// maxNameInput bounds the input normalised (NFKC can expand a string).
const maxNameInput = 256

// visibleRune reports whether r may appear in a name (besides the ASCII
// space, which checkName places).
func visibleRune(r rune) bool {
	switch {
	case r == utf8.RuneError, !unicode.IsGraphic(r), unicode.IsSpace(r),
		unicode.In(r, unicode.Cf, unicode.Co, unicode.Cs, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point):
		return false
	case r == 0x2800, r == 0x115F, r == 0x1160, r == 0x3164, r == 0xFFA0: // blank letters
		return false
	}
	return true
}

// checkName normalises a name to NFKC and checks it: between min and max
// characters, visible characters with single inner spaces (see above). The
// error names field.
func checkName(field, name string, min, max int) (string, error) {
	bad := func(msg string) (string, error) { return "", fieldErr(field, "BASE_TYPE_BAD_NAME", msg) }
	if len(name) > maxNameInput || !utf8.ValidString(name) {
		return bad("Must be valid text of reasonable length.")
	}
	n := norm.NFKC.String(name)
	if c := utf8.RuneCountInString(n); c < min || c > max {
		return "", fieldErr(field, "BASE_TYPE_BAD_LENGTH", "Must be between "+strconv.Itoa(min)+" and "+strconv.Itoa(max)+" in length.")
	}
	if strings.TrimSpace(n) != n || strings.Contains(n, "  ") {
		return bad("Must not start or end with spaces or hold double spaces.")
	}
	for i, r := range n {
		if r == ' ' {
			continue
		}
		if !visibleRune(r) || (i == 0 && unicode.Is(unicode.M, r)) {
			return bad("Must hold visible characters only.")
		}
	}
	return n, nil
}

// checkUsername returns the stored form of a requested username.
func checkUsername(name string) (string, error) {
	n, err := checkName("username", name, 2, 32)
	if err != nil {
		return "", err
	}
	if strings.ContainsAny(n, "@#:`") {
		return "", fieldErr("username", "USERNAME_INVALID", "Username must be 2-32 characters without @ # : `.")
	}
	key := model.UsernameKey(n)
	for _, r := range reservedNames {
		if key == model.UsernameKey(r) {
			return "", fieldErr("username", "USERNAME_ALREADY_TAKEN", "Username is unavailable.")
		}
	}
	return n, nil
}

// checkText checks free text shown to others (a channel topic): valid
// UTF-8 without control characters but newlines and tabs, and without
// format characters (bidirectional overrides, zero-width characters).
func checkText(field, text string) error {
	if !utf8.ValidString(text) {
		return fieldErr(field, "BASE_TYPE_BAD_TEXT", "Must be valid text.")
	}
	for _, r := range text {
		if (unicode.IsControl(r) && r != '\n' && r != '\t') || unicode.Is(unicode.Cf, r) {
			return fieldErr(field, "BASE_TYPE_BAD_TEXT", "Must not hold control or format characters.")
		}
	}
	return nil
}
