package decode

// numStatus is the outcome of converting a JSON number literal to an integer.
type numStatus uint8

const (
	numOK         numStatus = iota
	numFractional           // the value has a non-zero fraction and truncation was not allowed
	numOverflow             // the value does not fit in an int64
)

// scaledInt returns the exact value of the (already validated) JSON number
// literal lit times 10^shift as an int64. It works on the decimal digits, not
// through float64, so 9007199254740993 and 1.5e3 are exact and 1e400 is
// recognised as too large rather than infinite. When floor is false any
// non-zero remaining fraction is numFractional; when true the value is
// rounded toward negative infinity (how timestamps drop sub-microsecond
// digits, like time.Time.UnixMicro).
func scaledInt(lit []byte, shift int, floor bool) (int64, numStatus) {
	neg := lit[0] == '-'
	i := 0
	if neg {
		i = 1
	}
	intStart := i
	for i < len(lit) && isDigit(lit[i]) {
		i++
	}
	intEnd := i
	fracStart, fracEnd := i, i
	if i < len(lit) && lit[i] == '.' {
		fracStart = i + 1
		i = digits(lit, fracStart)
		fracEnd = i
	}
	exp := 0
	if i < len(lit) { // 'e' or 'E'
		i++
		expNeg := lit[i] == '-'
		if lit[i] == '+' || lit[i] == '-' {
			i++
		}
		for ; i < len(lit); i++ {
			// Saturate: anything past 1e9 is far beyond int64 either way.
			if exp < 1e9 {
				exp = exp*10 + int(lit[i]-'0')
			}
		}
		if expNeg {
			exp = -exp
		}
	}
	intLen := intEnd - intStart
	n := intLen + fracEnd - fracStart // all digits, integer and fraction part
	digit := func(k int) byte {
		if k < intLen {
			return lit[intStart+k] - '0'
		}
		return lit[fracStart+k-intLen] - '0'
	}
	first := 0 // first significant digit
	for first < n && digit(first) == 0 {
		first++
	}
	if first == n {
		return 0, numOK
	}
	// value = digits[first:n] * 10^p
	p := exp + shift - (fracEnd - fracStart)
	whole := n - first + p // number of digits before the decimal point
	// A fraction is reported before a size: 1e30+0.5 is not an integer at
	// all, whatever its size.
	frac := false
	for k := max(first, first+whole); k < n; k++ {
		if digit(k) != 0 {
			frac = true
			break
		}
	}
	if frac && !floor {
		return 0, numFractional
	}
	if whole > 19 {
		return 0, numOverflow
	}
	var u uint64 // < 10^19 < 2^64: cannot wrap
	for k := first; k < n && k < first+whole; k++ {
		u = u*10 + uint64(digit(k))
	}
	for z := n - first; z < whole; z++ {
		u *= 10
	}
	if frac && neg {
		u++ // floor: toward negative infinity
	}
	if neg {
		if u > 1<<63 {
			return 0, numOverflow
		}
		return int64(-u), numOK
	}
	if u > 1<<63-1 {
		return 0, numOverflow
	}
	return int64(u), numOK
}
