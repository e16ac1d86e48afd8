package enrich

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/shardflow/shardflow/processors/decode"
	"github.com/shardflow/shardflow/processors/transform"
)

// entry is what a key maps to. Entries are immutable once built, so a batch
// may keep using one that the cache evicts meanwhile.
type entry struct {
	vals []transform.Value // one per field; nil for a miss
	bad  string            // not empty: the stored value is unusable, dead-letter with this reason
}

// missing is the entry of a key that does not exist.
var missing = &entry{}

// newEntry converts the text of each field (present == false: absent) into
// an entry. A value that does not convert makes the entry bad: rows with
// this key go to dead-letter, since nulling them would hide broken data.
func newEntry(key string, fields []field, text func(i int) (string, bool), values *interner) *entry {
	e := allocEntry(len(fields))
	for i, f := range fields {
		s, ok := text(i)
		if !ok {
			e.vals[i] = f.def
			continue
		}
		v, err := parseValue(s, f.typ)
		if err != nil {
			return &entry{bad: fmt.Sprintf("enrich_bad_value: %s: %s: %v", key, f.from, err)}
		}
		if values != nil && v.Str != "" {
			v.Str = values.intern(v.Str)
		}
		e.vals[i] = v
	}
	return e
}

// interner shares equal short string values between entries (a plan or a
// tier is one of a few strings across many keys): each row's value is then
// read from memory that other rows keep in cache, instead of from its own
// allocation. It stops adding values past maxInternedValues (values of high
// cardinality gain nothing from it).
type interner struct {
	mu sync.Mutex
	m  map[string]string
}

const (
	maxInternedValues = 4096
	maxInternedLen    = 64
)

func (in *interner) intern(s string) string {
	if len(s) > maxInternedLen {
		return s
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if v, ok := in.m[s]; ok {
		return v
	}
	if len(in.m) < maxInternedValues {
		if in.m == nil {
			in.m = map[string]string{}
		}
		in.m[s] = s
	}
	return s
}

// allocEntry returns an entry with n values. For up to two values the
// entry and its values are one allocation, adjacent in memory: a batch
// reads both for each row, and for random keys each is a cache miss.
func allocEntry(n int) *entry {
	if n > 2 {
		return &entry{vals: make([]transform.Value, n)}
	}
	p := &struct {
		e entry
		v [2]transform.Value
	}{}
	p.e.vals = p.v[:n:n]
	return &p.e
}

// parseValue converts stored text to a value of typ: int64 takes an integer
// (or an integral decimal such as "42.0"), float64 any decimal number,
// bool true/false/1/0 (as strconv.ParseBool), timestamp RFC 3339 (floored
// to the microsecond, years 0001-9999).
func parseValue(s string, typ decode.FieldType) (transform.Value, error) {
	v := transform.Value{Valid: true}
	var err error
	switch typ {
	case decode.String:
		v.Str = s
	case decode.Int64:
		if v.Int, err = strconv.ParseInt(s, 10, 64); err != nil {
			f, ferr := strconv.ParseFloat(s, 64)
			if ferr != nil || f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 {
				return v, fmt.Errorf("%q is not an int64", s)
			}
			v.Int, err = int64(f), nil
		}
	case decode.Float64:
		if v.Float, err = strconv.ParseFloat(s, 64); err != nil || math.IsNaN(v.Float) || math.IsInf(v.Float, 0) {
			return v, fmt.Errorf("%q is not a finite float64", s)
		}
	case decode.Bool:
		if v.Bool, err = strconv.ParseBool(s); err != nil {
			return v, fmt.Errorf("%q is not a bool", s)
		}
	case decode.Timestamp:
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil || t.Year() < 1 || t.Year() > 9999 {
			return v, fmt.Errorf("%q is not an RFC 3339 timestamp in the years 0001-9999", s)
		}
		v.Int = t.UnixMicro()
	default:
		return v, fmt.Errorf("unknown type %q", typ)
	}
	return v, nil
}

// rawText is the stored text of one JSON value: a string's contents, a
// number's or bool's literal, an object's or array's JSON text. null is
// absent.
func rawText(raw json.RawMessage) (text string, present bool, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", false, errors.New("empty JSON value")
	}
	switch raw[0] {
	case 'n':
		return "", false, nil
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", false, err
		}
		return s, true, nil
	}
	return string(raw), true, nil
}

// jsonObject parses a JSON object into its members' texts (null members
// omitted).
func jsonObject(data []byte) (map[string]string, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil {
		return nil, err
	}
	if members == nil {
		return nil, errors.New("value is null, not a JSON object")
	}
	out := make(map[string]string, len(members))
	for k, raw := range members {
		s, ok, err := rawText(raw)
		if err != nil {
			return nil, fmt.Errorf("member %q: %w", k, err)
		}
		if ok {
			out[k] = s
		}
	}
	return out, nil
}
