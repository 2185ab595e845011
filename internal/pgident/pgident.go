package pgident

import (
	"errors"
	"fmt"
	"strings"
)

// MaxLength is the longest identifier PostgreSQL keeps whole (NAMEDATALEN-1).
const MaxLength = 63

// Check accepts lowercase ASCII letters, digits and underscores, not
// starting with a digit, at most maxLen bytes: identifiers that need no
// quoting, that PostgreSQL neither folds nor truncates, and that are safe in
// SQL literals. The error says what is wrong, without repeating s.
func Check(s string, maxLen int) error {
	if len(s) > maxLen {
		return fmt.Errorf("%d bytes, at most %d allowed", len(s), maxLen)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', c == '_':
		case '0' <= c && c <= '9':
			if i == 0 {
				return errors.New("starts with a digit")
			}
		default:
			return fmt.Errorf("byte %d is not a lowercase ASCII letter, digit or underscore", i)
		}
	}
	return nil
}

// Quote quotes an identifier for SQL.
func Quote(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
