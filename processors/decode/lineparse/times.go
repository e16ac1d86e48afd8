package lineparse

import "time"

// Micros converts the text of field i, a field of Kind Time, to
// microseconds since the epoch (UTC, sub-microsecond digits floored). It
// reports false when the text is not in the format's timestamp layout or
// names an impossible date.
func (p *Parser) Micros(i int, b []byte) (int64, bool) {
	if i < 0 || i >= len(p.fields) || p.fields[i].Kind != Time {
		return 0, false
	}
	switch p.format {
	case ApacheCommon, ApacheCombined:
		return apacheAccessTime(b)
	case ApacheError:
		return p.apacheErrorTime(b)
	case Syslog:
		if len(b) > 0 && isDigit(b[0]) {
			return RFC3339Micros(b)
		}
		return p.syslog3164Time(b)
	}
	return 0, false
}

// apacheAccessTime parses "10/Oct/2000:13:55:36 -0700".
func apacheAccessTime(b []byte) (int64, bool) {
	if len(b) != 26 || b[2] != '/' || b[6] != '/' || b[11] != ':' || b[14] != ':' || b[17] != ':' || b[20] != ' ' {
		return 0, false
	}
	day, ok1 := num(b[0:2])
	month := int64(monthIndex(b[3:6]) + 1)
	year, ok2 := num(b[7:11])
	hour, ok3 := num(b[12:14])
	minute, ok4 := num(b[15:17])
	sec, ok5 := num(b[18:20])
	off, ok6 := offset(b[21:])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month == 0 {
		return 0, false
	}
	s, ok := civilSeconds(year, month, day, hour, minute, sec)
	if !ok {
		return 0, false
	}
	return (s - off) * 1e6, true
}

// offset parses "+hhmm" or "-hhmm" into seconds east of UTC.
func offset(b []byte) (int64, bool) {
	if len(b) != 5 || (b[0] != '+' && b[0] != '-') {
		return 0, false
	}
	h, ok1 := num(b[1:3])
	m, ok2 := num(b[3:5])
	if !ok1 || !ok2 || h > 23 || m > 59 {
		return 0, false
	}
	s := h*3600 + m*60
	if b[0] == '-' {
		s = -s
	}
	return s, true
}

// apacheErrorTime parses "Wed Oct 11 14:32:52.123456 2000" (the fraction
// optional, the day zero- or space-padded) in the parser's location.
func (p *Parser) apacheErrorTime(b []byte) (int64, bool) {
	if len(b) < 24 || b[3] != ' ' || b[7] != ' ' || b[10] != ' ' || b[13] != ':' || b[16] != ':' {
		return 0, false
	}
	month := int64(monthIndex(b[4:7]) + 1)
	day, ok1 := num(spaceToZero(b[8:10]))
	hour, ok2 := num(b[11:13])
	minute, ok3 := num(b[14:16])
	sec, ok4 := num(b[17:19])
	rest := b[19:]
	var micros int64
	if len(rest) > 0 && rest[0] == '.' {
		j := 1
		for j < len(rest) && isDigit(rest[j]) {
			j++
		}
		if j == 1 || j > 10 {
			return 0, false
		}
		micros = fraction(rest[1:j])
		rest = rest[j:]
	}
	if len(rest) != 5 || rest[0] != ' ' {
		return 0, false
	}
	year, ok5 := num(rest[1:])
	if !(ok1 && ok2 && ok3 && ok4 && ok5) || month == 0 {
		return 0, false
	}
	return p.local(year, month, day, hour, minute, sec, micros)
}

// syslog3164Time parses "Oct 11 22:14:15" (day space-padded) in the
// parser's location; the year is the one that puts it nearest before now
// (up to a day ahead is still this year).
func (p *Parser) syslog3164Time(b []byte) (int64, bool) {
	if len(b) != 15 || b[3] != ' ' || b[6] != ' ' || b[9] != ':' || b[12] != ':' {
		return 0, false
	}
	month := int64(monthIndex(b[0:3]) + 1)
	day, ok1 := num(spaceToZero(b[4:6]))
	hour, ok2 := num(b[7:9])
	minute, ok3 := num(b[10:12])
	sec, ok4 := num(b[13:15])
	if !(ok1 && ok2 && ok3 && ok4) || month == 0 {
		return 0, false
	}
	now := p.now().In(p.loc)
	year := int64(now.Year())
	limit := now.Add(24 * time.Hour).UnixMicro()
	for _, y := range [2]int64{year, year - 1} {
		if us, ok := p.local(y, month, day, hour, minute, sec, 0); ok && us <= limit {
			return us, true
		}
	}
	// Feb 29 of a year that has none, next to a year that has: the
	// nearest leap year before.
	for y := year - 2; y > year-8; y-- {
		if us, ok := p.local(y, month, day, hour, minute, sec, 0); ok {
			return us, true
		}
	}
	return 0, false
}

// local converts a wall-clock time in the parser's location.
func (p *Parser) local(year, month, day, hour, minute, sec, micros int64) (int64, bool) {
	if p.loc == time.UTC {
		s, ok := civilSeconds(year, month, day, hour, minute, sec)
		return s*1e6 + micros, ok
	}
	if _, ok := civilSeconds(year, month, day, hour, minute, sec); !ok {
		return 0, false
	}
	t := time.Date(int(year), time.Month(month), int(day), int(hour), int(minute), int(sec), int(micros)*1000, p.loc)
	return t.UnixMicro(), true
}

// RFC3339Micros parses an RFC 3339 timestamp, "2006-01-02T15:04:05Z" with
// an optional fraction (1-9 digits) and a "Z" or "±hh:mm" offset, into
// microseconds since the epoch (sub-microsecond digits floored).
func RFC3339Micros(b []byte) (int64, bool) {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return 0, false
	}
	year, ok1 := num(b[0:4])
	month, ok2 := num(b[5:7])
	day, ok3 := num(b[8:10])
	hour, ok4 := num(b[11:13])
	minute, ok5 := num(b[14:16])
	sec, ok6 := num(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return 0, false
	}
	rest := b[19:]
	var micros int64
	if rest[0] == '.' {
		j := 1
		for j < len(rest) && isDigit(rest[j]) {
			j++
		}
		if j == 1 || j > 10 {
			return 0, false
		}
		micros = fraction(rest[1:j])
		rest = rest[j:]
	}
	var off int64
	switch {
	case len(rest) == 1 && rest[0] == 'Z':
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		h, ok1 := num(rest[1:3])
		m, ok2 := num(rest[4:6])
		if !ok1 || !ok2 || h > 23 || m > 59 {
			return 0, false
		}
		off = h*3600 + m*60
		if rest[0] == '-' {
			off = -off
		}
	default:
		return 0, false
	}
	s, ok := civilSeconds(year, month, day, hour, minute, sec)
	if !ok {
		return 0, false
	}
	return (s-off)*1e6 + micros, true
}

// fraction turns 1-9 fraction digits into microseconds, floored.
func fraction(d []byte) int64 {
	var us int64
	for k := range 6 {
		us *= 10
		if k < len(d) {
			us += int64(d[k] - '0')
		}
	}
	return us
}

func spaceToZero(b []byte) []byte {
	if len(b) == 2 && b[0] == ' ' {
		return b[1:]
	}
	return b
}

// num parses 1-4 decimal digits.
func num(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 4 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// civilSeconds returns the seconds since the epoch of a UTC wall time, or
// false for an impossible one (month 13, Feb 30, hour 24, second 60).
func civilSeconds(year, month, day, hour, minute, sec int64) (int64, bool) {
	if year < 1 || year > 9999 || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return 0, false
	}
	return daysFromCivil(year, month, day)*86400 + hour*3600 + minute*60 + sec, true
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

// daysFromCivil is Howard Hinnant's days_from_civil: days since 1970-01-01
// of a proleptic Gregorian date.
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// AppendRFC3339 appends the instant of us microseconds since the epoch as
// RFC 3339 in UTC, with the fraction's trailing zeros dropped (as
// time.RFC3339Nano formats it): "2026-11-22T04:50:48.5Z". Years outside
// 0001-9999 are formatted by package time.
func AppendRFC3339(dst []byte, us int64) []byte {
	const minUS, maxUS = -62135596800 * 1e6, 253402300800*1e6 - 1
	if us < minUS || us > maxUS {
		return time.UnixMicro(us).UTC().AppendFormat(dst, time.RFC3339Nano)
	}
	secs, frac := us/1e6, us%1e6
	if frac < 0 {
		secs, frac = secs-1, frac+1e6
	}
	days, rem := secs/86400, secs%86400
	if rem < 0 {
		days, rem = days-1, rem+86400
	}
	y, m, d := civilFromDays(days)
	dst = append4(dst, y)
	dst = append(dst, '-')
	dst = append2(dst, m)
	dst = append(dst, '-')
	dst = append2(dst, d)
	dst = append(dst, 'T')
	dst = append2(dst, rem/3600)
	dst = append(dst, ':')
	dst = append2(dst, rem/60%60)
	dst = append(dst, ':')
	dst = append2(dst, rem%60)
	if frac > 0 {
		var f [7]byte
		f[0] = '.'
		for i := 6; i >= 1; i-- {
			f[i] = byte('0' + frac%10)
			frac /= 10
		}
		n := 7
		for f[n-1] == '0' {
			n--
		}
		dst = append(dst, f[:n]...)
	}
	return append(dst, 'Z')
}

func append2(dst []byte, v int64) []byte { return append(dst, byte('0'+v/10), byte('0'+v%10)) }
func append4(dst []byte, v int64) []byte {
	return append(dst, byte('0'+v/1000), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
}

// civilFromDays is Howard Hinnant's civil_from_days: the proleptic
// Gregorian date of a day count since 1970-01-01.
func civilFromDays(z int64) (y, m, d int64) {
	z += 719468
	era := z / 146097
	if z < 0 {
		era = (z - 146096) / 146097
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	m = mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}
