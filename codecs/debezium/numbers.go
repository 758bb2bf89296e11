package debezium

import (
	"encoding/base64"
	"math"
	"math/big"
)

// Money is converted to int64 cents with integer arithmetic only: decimal
// text (string or JSON number) is parsed digit by digit, and base64 unscaled
// values are rescaled with exact integer division. Nothing passes through
// float64.

// pow10u[k] = 10^k for k in [0, 19].
var pow10u = func() (t [20]uint64) {
	t[0] = 1
	for i := 1; i < len(t); i++ {
		t[i] = t[i-1] * 10
	}
	return t
}()

// numErr classifies a failed numeric conversion.
type numErr uint8

const (
	numOK numErr = iota
	numSyntax
	numOverflow
	numTooLong
)

// parseJSONInt parses validated JSON number text that must be an integer.
func parseJSONInt(t []byte) (int64, numErr) {
	neg := false
	i := 0
	if len(t) > 0 && t[0] == '-' {
		neg = true
		i = 1
	}
	if i >= len(t) {
		return 0, numSyntax
	}
	var mag uint64
	if len(t)-i <= 18 { // fast path: 18 digits cannot overflow
		for ; i < len(t); i++ {
			c := t[i] - '0'
			if c > 9 {
				return 0, numSyntax // fraction or exponent: not an integer
			}
			mag = mag*10 + uint64(c)
		}
		return signed(neg, mag)
	}
	for ; i < len(t); i++ {
		c := t[i]
		if c < '0' || c > '9' {
			return 0, numSyntax // fraction or exponent: not an integer
		}
		d := uint64(c - '0')
		if mag > (math.MaxUint64-d)/10 {
			return 0, numOverflow
		}
		mag = mag*10 + d
	}
	return signed(neg, mag)
}

// signed applies a sign to a magnitude, checking the int64 range.
func signed(neg bool, mag uint64) (int64, numErr) {
	if neg {
		if mag > 1<<63 {
			return 0, numOverflow
		}
		return int64(^mag + 1), numOK
	}
	if mag > math.MaxInt64 {
		return 0, numOverflow
	}
	return int64(mag), numOK
}

// parseJSONUint parses validated JSON number text that must be a
// non-negative integer.
func parseJSONUint(t []byte) (uint64, numErr) {
	if len(t) == 0 || t[0] == '-' {
		return 0, numSyntax
	}
	var mag uint64
	if len(t) <= 18 { // fast path: 18 digits cannot overflow
		for _, c := range t {
			c -= '0'
			if c > 9 {
				return 0, numSyntax
			}
			mag = mag*10 + uint64(c)
		}
		return mag, numOK
	}
	for _, c := range t {
		if c < '0' || c > '9' {
			return 0, numSyntax
		}
		d := uint64(c - '0')
		if mag > (math.MaxUint64-d)/10 {
			return 0, numOverflow
		}
		mag = mag*10 + d
	}
	return mag, numOK
}

// decimalTextToCents parses decimal text ([sign] digits [. digits]
// [e [sign] digits]), as printed by decimal.handling.mode=string or double,
// and returns the value in cents rounded half away from zero. A leading '+'
// is accepted; at least one digit is required.
func decimalTextToCents(t []byte) (int64, numErr) {
	i := 0
	neg := false
	if i < len(t) && (t[i] == '-' || t[i] == '+') {
		neg = t[i] == '-'
		i++
	}
	intStart := i
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	intEnd := i
	fracStart, fracEnd := i, i
	if i < len(t) && t[i] == '.' {
		i++
		fracStart = i
		for i < len(t) && t[i] >= '0' && t[i] <= '9' {
			i++
		}
		fracEnd = i
	}
	nInt, nFrac := intEnd-intStart, fracEnd-fracStart
	if nInt+nFrac == 0 {
		return 0, numSyntax
	}
	exp := 0
	if i < len(t) && (t[i] == 'e' || t[i] == 'E') {
		i++
		eneg := false
		if i < len(t) && (t[i] == '-' || t[i] == '+') {
			eneg = t[i] == '-'
			i++
		}
		d := i
		for i < len(t) && t[i] >= '0' && t[i] <= '9' {
			if exp < 1<<20 { // clamp: beyond this the result is 0 or overflow anyway
				exp = exp*10 + int(t[i]-'0')
			}
			i++
		}
		if i == d {
			return 0, numSyntax
		}
		if eneg {
			exp = -exp
		}
	}
	if i != len(t) {
		return 0, numSyntax
	}
	n := nInt + nFrac
	digit := func(k int) byte {
		if k < nInt {
			return t[intStart+k]
		}
		return t[fracStart+k-nInt]
	}
	lead := 0
	for lead < n && digit(lead) == '0' {
		lead++
	}
	if lead == n {
		return 0, numOK
	}
	// cents = D * 10^e where D is the digit string.
	e := exp - nFrac + 2
	var mag uint64
	accumulate := func(from, to int) bool {
		for k := from; k < to; k++ {
			d := uint64(digit(k) - '0')
			if mag > (math.MaxUint64-d)/10 {
				return false
			}
			mag = mag*10 + d
		}
		return true
	}
	if e >= 0 {
		if !accumulate(lead, n) {
			return 0, numOverflow
		}
		if e > 19 {
			return 0, numOverflow
		}
		p := pow10u[e]
		if mag > math.MaxUint64/p {
			return 0, numOverflow
		}
		mag *= p
		return signed(neg, mag)
	}
	keep := n + e // digits kept before the cents point
	if keep < lead {
		// The first dropped digit is a leading zero: the value is below
		// half a cent.
		return 0, numOK
	}
	if !accumulate(lead, keep) {
		return 0, numOverflow
	}
	if digit(keep) >= '5' { // half away from zero: only the first dropped digit matters
		if mag == math.MaxUint64 {
			return 0, numOverflow
		}
		mag++
	}
	return signed(neg, mag)
}

// base64DecimalToCents decodes a Kafka Connect Decimal: base64 of the
// big-endian two's complement unscaled value, then rescales to cents.
func base64DecimalToCents(b64 []byte, scale int32) (int64, numErr) {
	if len(b64) == 0 {
		return 0, numSyntax
	}
	enc := base64.StdEncoding
	if len(b64)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	var stack [48]byte
	var dst []byte
	if n := enc.DecodedLen(len(b64)); n <= len(stack) {
		dst = stack[:n]
	} else {
		dst = make([]byte, n)
	}
	n, err := enc.Decode(dst, b64)
	if err != nil || n == 0 {
		return 0, numSyntax
	}
	return unscaledToCents(dst[:n], scale)
}

// unscaledToCents converts a big-endian two's complement unscaled value with
// the given scale to cents, rounding half away from zero.
func unscaledToCents(b []byte, scale int32) (int64, numErr) {
	// Drop redundant sign-extension bytes.
	for len(b) > 1 && ((b[0] == 0x00 && b[1]&0x80 == 0) || (b[0] == 0xff && b[1]&0x80 != 0)) {
		b = b[1:]
	}
	if len(b) <= 8 {
		var u uint64
		if b[0]&0x80 != 0 {
			u = math.MaxUint64 // sign extension
		}
		for _, c := range b {
			u = u<<8 | uint64(c)
		}
		return rescaleCents(int64(u), scale)
	}
	return bigUnscaledToCents(b, scale)
}

// rescaleCents converts unscaled * 10^-scale to cents.
func rescaleCents(u int64, scale int32) (int64, numErr) {
	k := int64(scale) - 2
	neg, mag := absCents(u)
	switch {
	case k == 0 || mag == 0:
	case k < 0:
		if -k > 19 {
			return 0, numOverflow
		}
		p := pow10u[-k]
		if mag > math.MaxUint64/p {
			return 0, numOverflow
		}
		mag *= p
	default:
		if k > 19 { // 10^20/2 exceeds any 64-bit magnitude: rounds to 0
			return 0, numOK
		}
		p := pow10u[k]
		q, r := mag/p, mag%p
		if r >= p-r {
			q++
		}
		mag = q
	}
	return signed(neg, mag)
}

// maxBigDecimalBytes bounds the unscaled values handled by the big.Int path;
// a money column never comes close.
const maxBigDecimalBytes = 128

// bigUnscaledToCents handles unscaled values wider than 64 bits (they can
// only fit in cents after dividing by a large enough power of ten).
func bigUnscaledToCents(b []byte, scale int32) (int64, numErr) {
	if len(b) > maxBigDecimalBytes {
		return 0, numTooLong
	}
	k := int64(scale) - 2
	if k <= 0 { // |unscaled| >= 2^63: no multiplication can fit
		return 0, numOverflow
	}
	maxDigits := int64(len(b))*8*30103/100000 + 2
	if k > maxDigits+1 {
		return 0, numOK
	}
	v := new(big.Int).SetBytes(b)
	neg := b[0]&0x80 != 0
	if neg {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(len(b))*8))
		v.Neg(v)
	}
	p := new(big.Int).Exp(big.NewInt(10), big.NewInt(k), nil)
	q, r := new(big.Int).QuoRem(v, p, new(big.Int))
	r.Lsh(r, 1)
	if r.Cmp(p) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	if !q.IsUint64() {
		return 0, numOverflow
	}
	return signed(neg, q.Uint64())
}
