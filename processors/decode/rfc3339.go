package decode

import "encoding/binary"

// parseRFC3339UTC is the fast path of RFC 3339 timestamps in the form
// producers almost always send, "YYYY-MM-DDTHH:MM:SS[.fraction]Z" (1 to 9
// fraction digits, UTC). It returns microseconds since the epoch (floored,
// as time.Time.UnixMicro) and true, or false for anything else, including
// out-of-range fields: the caller then parses with time.Parse, which gives
// the same value for every input accepted here and the error otherwise.
func parseRFC3339UTC(s []byte) (int64, bool) {
	if len(s) < 20 || s[len(s)-1] != 'Z' {
		return 0, false
	}
	base, ok := rfc3339Minute(s)
	if !ok {
		return 0, false
	}
	return rfc3339Seconds(s, base)
}

// rfc3339Cache remembers the last "YYYY-MM-DDTHH:MM" prefix parsed and its
// seconds since the epoch: the timestamps of one batch mostly share it, so
// only the seconds and fraction are left to parse. The result is the same
// as parseRFC3339UTC's for every input.
type rfc3339Cache struct {
	p0, p1 uint64 // the prefix, as two little-endian words
	base   int64
	ok     bool
}

func (c *rfc3339Cache) parse(s []byte) (int64, bool) {
	if len(s) < 20 || s[len(s)-1] != 'Z' {
		return 0, false
	}
	p0, p1 := binary.LittleEndian.Uint64(s), binary.LittleEndian.Uint64(s[8:])
	if !c.ok || p0 != c.p0 || p1 != c.p1 {
		base, ok := rfc3339Minute(s)
		if !ok {
			return 0, false
		}
		c.p0, c.p1, c.base, c.ok = p0, p1, base, true
	}
	return rfc3339Seconds(s, c.base)
}

// rfc3339Minute parses s[:16], "YYYY-MM-DDTHH:MM", of a string of at least
// 20 bytes into seconds since the epoch.
func rfc3339Minute(s []byte) (int64, bool) {
	if s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' {
		return 0, false
	}
	year, ok1 := decimal(s[0:4])
	month, ok2 := decimal(s[5:7])
	day, ok3 := decimal(s[8:10])
	hour, ok4 := decimal(s[11:13])
	minute, ok5 := decimal(s[14:16])
	if !(ok1 && ok2 && ok3 && ok4 && ok5) || year < 1 || month < 1 || month > 12 ||
		day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 {
		return 0, false
	}
	return daysFromCivil(year, month, day)*86400 + hour*3600 + minute*60, true
}

// rfc3339Seconds parses the rest, ":SS[.fraction]Z", of a string of at least
// 20 bytes ending in 'Z' whose first 16 bytes are base seconds.
func rfc3339Seconds(s []byte, base int64) (int64, bool) {
	if s[16] != ':' {
		return 0, false
	}
	sec, ok := decimal(s[17:19])
	if !ok || sec > 59 {
		return 0, false
	}
	var nanos int64
	switch frac := s[19 : len(s)-1]; {
	case len(frac) == 0:
	case len(frac) >= 2 && len(frac) <= 10 && frac[0] == '.':
		n, ok := decimal(frac[1:])
		if !ok {
			return 0, false
		}
		for range 10 - len(frac) {
			n *= 10
		}
		nanos = n
	default:
		return 0, false
	}
	return (base+sec)*1_000_000 + nanos/1000, true
}

// decimal parses an unsigned decimal of only ASCII digits.
func decimal(b []byte) (int64, bool) {
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func daysIn(month, year int64) int64 {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil is the number of days from 1970-01-01 to the proleptic
// Gregorian date y-m-d (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}
