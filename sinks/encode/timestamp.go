package encode

import "time"

// appendTimestamp writes microseconds since the Unix epoch as RFC 3339 UTC
// with exactly six fractional digits. The civil date is computed directly
// (Howard Hinnant's days-to-civil algorithm) because time.Time formatting
// costs several times more and this runs once per timestamp per row.
func appendTimestamp(dst []byte, us int64) []byte {
	secs, frac := floorDiv(us, 1e6)
	days, sod := floorDiv(secs, 86400)
	y, m, d := civil(days)
	if y < 0 || y > 9999 {
		// Outside what RFC 3339 can write: Go's extended form, still a
		// valid JSON string. processors/decode never produces these.
		return time.UnixMicro(us).UTC().AppendFormat(append(dst, '"'), `2006-01-02T15:04:05.000000Z"`)
	}
	dst = appendDateTime(append(dst, '"'), y, m, d, sod, 'T')
	dst = append(dst, '.')
	dst = append2(dst, frac/10000)
	dst = append2(dst, frac/100%100)
	dst = append2(dst, frac%100)
	return append(dst, 'Z', '"')
}

// appendDateTime writes `YYYY-MM-DD<sep>HH:MM:SS` for a civil date (year
// 0-9999) and a second of the day.
func appendDateTime(dst []byte, y, m, d, sod int64, sep byte) []byte {
	dst = append4(dst, y)
	dst = append(dst, '-')
	dst = append2(dst, m)
	dst = append(dst, '-')
	dst = append2(dst, d)
	dst = append(dst, sep)
	dst = append2(dst, sod/3600)
	dst = append(dst, ':')
	dst = append2(dst, sod/60%60)
	dst = append(dst, ':')
	return append2(dst, sod%60)
}

func floorDiv(a, b int64) (q, r int64) {
	q, r = a/b, a%b
	if r < 0 {
		q--
		r += b
	}
	return q, r
}

// civil converts days since 1970-01-01 to a proleptic Gregorian date.
func civil(days int64) (y, m, d int64) {
	z := days + 719468
	era, doe := floorDiv(z, 146097)
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	m = mp + 3
	if mp >= 10 {
		m = mp - 9
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

func append2(dst []byte, v int64) []byte {
	return append(dst, byte('0'+v/10), byte('0'+v%10))
}

func append4(dst []byte, v int64) []byte {
	return append(dst, byte('0'+v/1000), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
}
