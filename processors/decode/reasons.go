package decode

import (
	"strconv"
	"strings"
)

// Reason codes: the first word of every DeadLetter.Reason this package
// writes. They are stable so that metrics and alerts can count by them; the
// text after the code is detail for humans and may change.
const (
	// ReasonInvalidJSON: the record is not exactly one valid JSON value
	// (includes empty input and data after the value).
	ReasonInvalidJSON = "invalid_json"
	// ReasonNotAnObject: valid JSON whose top-level value is not an object.
	ReasonNotAnObject = "not_an_object"
	// ReasonMissingField: a non-nullable field without default is missing or null.
	ReasonMissingField = "missing_field"
	// ReasonTypeMismatch: a value (or an object on its path) has the wrong JSON type.
	ReasonTypeMismatch = "type_mismatch"
	// ReasonOutOfRange: a number does not fit the column type, or a timestamp
	// falls outside the years 0001-9999.
	ReasonOutOfRange = "out_of_range"
	// ReasonInvalidTimestamp: a timestamp string does not match the field's format.
	ReasonInvalidTimestamp = "invalid_timestamp"
	// ReasonInvalidUTF8: a string value is not valid Unicode: invalid UTF-8
	// bytes or a \u escape of an unpaired surrogate.
	ReasonInvalidUTF8 = "invalid_utf8"
)

// ReasonCode returns the code a reason starts with: the text before the first
// ':' (or the whole reason when it has no detail).
func ReasonCode(reason string) string {
	if i := strings.IndexByte(reason, ':'); i >= 0 {
		return reason[:i]
	}
	return reason
}

func reason(code, detail string) string {
	return code + ": " + detail
}

// quoteLit shows a piece of input in a reason, shortened so that a hostile
// record cannot make a reason as large as itself.
func quoteLit(b []byte) string {
	const max = 64
	if len(b) > max {
		return strconv.Quote(string(b[:max])) + "..."
	}
	return strconv.Quote(string(b))
}
