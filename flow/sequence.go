package flow

import "strings"

// CompareSequence orders two Kinesis sequence numbers: decimal strings of
// up to 128 bits, so the shorter (leading zeros aside) is the smaller and
// equal lengths compare as text. It answers -1, 0 or 1 and allocates
// nothing.
func CompareSequence(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}
