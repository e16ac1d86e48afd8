package decode

import (
	"encoding/binary"
	"fmt"
)

// maxDepth bounds nesting like encoding/json does, so a record is valid JSON
// here exactly when json.Valid says so (the fuzz target checks that).
const maxDepth = 10000

// kind is the JSON type of a value the scanner found at a declared path.
type kind uint8

const (
	kindAbsent kind = iota // the path does not occur in the record
	kindNull
	kindFalse
	kindTrue
	kindNumber
	kindString
	kindObject
	kindArray
	// kindBadParent: an object on the way to the path held another JSON type
	// (slot.parent says which one and slot.parentKind what it held).
	kindBadParent
)

// jsonName is how a reason names a JSON type: "got string".
func (k kind) jsonName() string {
	switch k {
	case kindNull:
		return "null"
	case kindFalse, kindTrue:
		return "bool"
	case kindNumber:
		return "number"
	case kindString:
		return "string"
	case kindObject:
		return "object"
	case kindArray:
		return "array"
	}
	return "nothing"
}

// slot is where the value of one declared path was found in the current
// record: byte offsets into the record rather than a decoded value, so that
// scanning allocates nothing and conversion happens only for declared columns.
type slot struct {
	kind kind
	esc  bool // a string containing escapes: must be unescaped before use
	// ascii: a string of only ASCII bytes (before unescaping), which is
	// therefore valid UTF-8.
	ascii bool
	// start, end: a string's contents without the quotes; a number's literal.
	start, end int
	// kindBadParent: the path prefix that was not an object, as its index
	// in scanner.nodes (an index, not a pointer, so that slots hold no
	// pointers and resetting them per record needs no write barriers).
	parent     int32
	parentKind kind
}

// node is one path segment of the declared schema; the roots' children are
// the top-level keys. Slots of a subtree are numbered contiguously [lo, hi)
// so a repeated key can reset everything below it in one loop.
type node struct {
	name     string
	path     string // dotted path up to and including this segment
	children []*node
	slot     int // slot of a column declared at exactly this path, or -1
	lo, hi   int
	// byName replaces the linear search in wide objects, where comparing
	// each key against dozens of names would cost more than hashing it.
	byName map[string]*node
	// Producers write an object's keys in the same order record after
	// record, so the scanner guesses the next declared key: first is the
	// child that came first last time, next the child that followed this
	// one. A guess is checked by comparing the key's raw bytes, without
	// scanning or unescaping them, which is exact only for a plain name (no
	// quote, backslash or control byte).
	first, next *node
	plain       bool
	// key, keyMask: a plain name and its closing quote as two masked
	// little-endian words, when they fit (keyLen > 0).
	key, keyMask [2]uint64
	keyLen       int
	id           int32 // index in scanner.nodes
}

// rawKey reports whether the string at d[i] == '"' is exactly the plain
// name of n.
func rawKey(d []byte, i int, n *node) bool {
	if n.keyLen > 0 && i+17 <= len(d) {
		// The name and its closing quote, up to 16 bytes: two masked words.
		w := d[i+1 : i+17]
		return (binary.LittleEndian.Uint64(w)^n.key[0])&n.keyMask[0] == 0 &&
			(binary.LittleEndian.Uint64(w[8:])^n.key[1])&n.keyMask[1] == 0
	}
	j := i + 1 + len(n.name)
	return j < len(d) && d[j] == '"' && string(d[i+1:j]) == n.name
}

func (n *node) child(key []byte) *node {
	if n.byName != nil {
		return n.byName[string(key)] // no allocation: the compiler sees the lookup
	}
	for _, c := range n.children {
		// The length test first: most keys differ in length, and the
		// string(key) conversion in a comparison does not allocate.
		if len(c.name) == len(key) && c.name == string(key) {
			return c
		}
	}
	return nil
}

// scanner validates one record strictly (RFC 8259, as encoding/json's
// json.Valid) in a single pass and records where the declared paths are.
// Its buffers are reused across records.
type scanner struct {
	data   []byte
	slots  []slot
	nodes  []*node // every node of the schema, by node.id
	stack  []byte  // open containers while skipping an undeclared value
	keyBuf []byte  // unescaped object keys that contain escapes
	// The first syntax error: a constant message and the offset it refers
	// to, formatted only when a record is rejected.
	errMsg string
	errOff int
	top    byte // first byte of the top-level value
}

func (s *scanner) fail(msg string, off int) int {
	if s.errMsg == "" {
		s.errMsg, s.errOff = msg, off
	}
	return -1
}

// syntaxError describes the recorded error for an invalid_json reason.
func (s *scanner) syntaxError() string {
	if s.errOff >= len(s.data) {
		return s.errMsg + " at end of input"
	}
	return fmt.Sprintf("%s at offset %d (%q)", s.errMsg, s.errOff, s.data[s.errOff:s.errOff+1])
}

// topKind names the JSON type of a valid top-level value.
func (s *scanner) topKind() string {
	switch s.top {
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

func (s *scanner) ws(i int) int { return ws(s.data, i) }

// ws returns the offset of the first byte at or after i that is not JSON
// whitespace.
func ws(d []byte, i int) int {
	if i < len(d) && d[i] > ' ' { // the usual case: no whitespace
		return i
	}
	for i < len(d) {
		switch d[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scan validates the whole record and fills s.slots. It returns false for
// invalid JSON (s.errMsg set) and, for valid JSON, whether the top-level value
// is an object.
func (s *scanner) scan(data []byte, root *node) (valid, object bool) {
	s.data, s.errMsg, s.errOff = data, "", 0
	for i := range s.slots {
		s.slots[i] = slot{}
	}
	i := s.ws(0)
	if i == len(data) {
		s.fail("empty input", i)
		return false, false
	}
	s.top = data[i]
	object = data[i] == '{'
	if object {
		i = s.object(i, root, 1)
	} else {
		i = s.skipValue(i, 0)
	}
	if i < 0 {
		return false, false
	}
	if i = s.ws(i); i != len(data) {
		s.fail("data after the top-level value", i)
		return false, false
	}
	return true, object
}

// object scans the object at data[i] == '{' whose keys are matched against
// n's children; depth counts the open containers including this one.
func (s *scanner) object(i int, n *node, depth int) int {
	d := s.data // a local: the compiler need not reload it after each call
	i = ws(d, i+1)
	if i < len(d) && d[i] == '}' {
		return i + 1
	}
	guess, prev := n.first, (*node)(nil)
	for {
		if i >= len(d) || d[i] != '"' {
			return s.fail("want a string key", i)
		}
		var c *node
		var end int
		if guess != nil && guess.plain && rawKey(d, i, guess) {
			c, end = guess, i+len(guess.name)+2
		} else {
			var esc bool
			end, esc, _ = s.str(i)
			if end < 0 {
				return -1
			}
			key := d[i+1 : end-1]
			if esc {
				s.keyBuf, _ = unescape(s.keyBuf[:0], key)
				key = s.keyBuf
			}
			c = n.child(key)
		}
		if c != nil {
			if prev == nil {
				n.first = c
			} else {
				prev.next = c
			}
			prev, guess = c, c.next
		}
		if i = ws(d, end); i >= len(d) || d[i] != ':' {
			return s.fail("want ':' after a key", i)
		}
		if i = ws(d, i+1); i >= len(d) {
			return s.fail("want a value", i)
		}
		if c != nil {
			i = s.member(i, c, depth)
		} else {
			i = s.skipValue(i, depth)
		}
		if i < 0 {
			return -1
		}
		if i = ws(d, i); i >= len(d) {
			return s.fail("want ',' or '}'", i)
		}
		switch d[i] {
		case ',':
			i = ws(d, i+1)
		case '}':
			return i + 1
		default:
			return s.fail("want ',' or '}'", i)
		}
	}
}

// member scans the value at data[i] of a key that is a declared path segment.
// A later occurrence of the same key replaces an earlier one entirely (as
// encoding/json does with maps), hence the reset of the subtree's slots.
func (s *scanner) member(i int, n *node, depth int) int {
	nested := len(n.children) > 0
	if nested {
		clear(s.slots[n.lo:n.hi])
	}
	start, end, esc, ascii := i, -1, false, false
	var k kind
	switch c := s.data[i]; {
	case c == '{' && nested:
		if depth+1 > maxDepth {
			return s.fail("nesting deeper than 10000", i)
		}
		end, k = s.object(i, n, depth+1), kindObject
	case c == '"':
		end, esc, ascii = s.str(i)
		k = kindString
	default:
		end = s.skipValue(i, depth)
		switch c {
		case '{':
			k = kindObject
		case '[':
			k = kindArray
		case 't':
			k = kindTrue
		case 'f':
			k = kindFalse
		case 'n':
			k = kindNull
		default:
			k = kindNumber
		}
	}
	if end < 0 {
		return -1
	}
	if n.slot >= 0 {
		sl := &s.slots[n.slot]
		sl.kind, sl.esc, sl.ascii, sl.start, sl.end = k, esc, ascii, start, end
		if k == kindString {
			sl.start, sl.end = start+1, end-1
		}
	}
	if nested && k != kindObject && k != kindNull {
		for j := n.lo; j < n.hi; j++ {
			if j != n.slot {
				s.slots[j] = slot{kind: kindBadParent, parent: n.id, parentKind: k}
			}
		}
	}
	return end
}
