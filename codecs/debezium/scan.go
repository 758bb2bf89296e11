package debezium

import (
	"encoding/binary"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// scanner is a minimal validating JSON tokenizer over a byte slice. It never
// allocates on the success path (except when a key contains escapes) and
// never reads outside data: every index is checked against len(data).
type scanner struct {
	data  []byte
	pos   int
	depth int
}

// maxDepth bounds the nesting of skipped values so that hostile input cannot
// exhaust the stack.
const maxDepth = 512

// syntaxError reports malformed JSON at the scanner's position.
func (s *scanner) syntaxError(what string) *DecodeError {
	if s.pos >= len(s.data) {
		return &DecodeError{Reason: "value is not JSON: unexpected end of input"}
	}
	return &DecodeError{Reason: "value is not JSON: " + what + " " + quoteByte(s.data[s.pos]) + " at offset " + strconv.Itoa(s.pos)}
}

func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return "0x" + strconv.FormatUint(uint64(c), 16)
}

// isWS reports JSON whitespace.
func isWS(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

func (s *scanner) skipWS() {
	for s.pos < len(s.data) && isWS(s.data[s.pos]) {
		s.pos++
	}
}

// peek returns the next non-blank byte without consuming it (0 at the end).
func (s *scanner) peek() byte {
	s.skipWS()
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

// atEnd reports whether only whitespace remains.
func (s *scanner) atEnd() bool {
	s.skipWS()
	return s.pos >= len(s.data)
}

// strSafe[c] is true for bytes that may appear unescaped inside a string and
// need no attention: everything except '"', '\\' and control characters.
var strSafe = func() (t [256]bool) {
	for i := range t {
		t[i] = i >= 0x20 && i != '"' && i != '\\'
	}
	return t
}()

// readString consumes a string token (the scanner must be at '"') and
// returns its raw content between the quotes and whether it has escapes.
func (s *scanner) readString() (raw []byte, escaped bool, err *DecodeError) {
	if s.pos >= len(s.data) || s.data[s.pos] != '"' {
		return nil, false, s.syntaxError("expected string, found")
	}
	s.pos++
	start := s.pos
	data := s.data
	i := s.pos
	for {
		// Eight bytes at a time while none needs attention, then bytewise.
		for i+8 <= len(data) && !hasSpecialByte(binary.LittleEndian.Uint64(data[i:])) {
			i += 8
		}
		for i < len(data) && strSafe[data[i]] {
			i++
		}
		if i >= len(data) {
			s.pos = i
			return nil, false, s.syntaxError("")
		}
		switch c := data[i]; {
		case c == '"':
			s.pos = i + 1
			return data[start:i], escaped, nil
		case c == '\\':
			escaped = true
			if i+1 >= len(data) {
				s.pos = len(data)
				return nil, false, s.syntaxError("")
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(data) {
					s.pos = len(data)
					return nil, false, s.syntaxError("")
				}
				for k := i + 2; k < i+6; k++ {
					if hexVal(data[k]) < 0 {
						s.pos = k
						return nil, false, s.syntaxError("invalid \\u escape character")
					}
				}
				i += 6
			default:
				s.pos = i + 1
				return nil, false, s.syntaxError("invalid escape character")
			}
		default: // control character
			s.pos = i
			return nil, false, s.syntaxError("invalid control character in string")
		}
	}
}

// hasSpecialByte reports whether any byte of w is '"', '\\' or a control
// character (< 0x20), with the classic SWAR zero-byte tests: they may only
// err towards true, and the bytewise loop then decides.
func hasSpecialByte(w uint64) bool {
	const lsb, msb = 0x0101010101010101, 0x8080808080808080
	q := w ^ (lsb * '"')
	b := w ^ (lsb * '\\')
	return ((q-lsb)&^q|(b-lsb)&^b|(w-lsb*0x20)&^w)&msb != 0
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// appendUnescaped appends the decoded content of a validated raw string
// (as returned by readString) to dst. Invalid surrogates become U+FFFD.
func appendUnescaped(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			j := i + 1
			for j < len(raw) && raw[j] != '\\' {
				j++
			}
			dst = append(dst, raw[i:j]...)
			i = j
			continue
		}
		if i+1 >= len(raw) { // cannot happen for validated input
			return dst
		}
		switch raw[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hex4(raw, i+2)
			if !ok {
				return dst
			}
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					if r2, ok := hex4(raw, i+2); ok {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							dst = utf8.AppendRune(dst, dec)
							i += 6
							continue
						}
					}
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, raw[i+1])
		}
		i += 2
	}
	return dst
}

func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	var r rune
	for k := at; k < at+4; k++ {
		v := hexVal(b[k])
		if v < 0 {
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	return r, true
}

// readNumber consumes a JSON number and returns its text.
func (s *scanner) readNumber() ([]byte, *DecodeError) {
	data := s.data
	start := s.pos
	i := s.pos
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i >= len(data):
		s.pos = i
		return nil, s.syntaxError("")
	case data[i] == '0':
		i++
	case data[i] >= '1' && data[i] <= '9':
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
	default:
		s.pos = i
		return nil, s.syntaxError("invalid character in number")
	}
	if i < len(data) && data[i] == '.' {
		i++
		d := i
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
		if i == d {
			s.pos = i
			return nil, s.syntaxError("expected digit after decimal point, found")
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		d := i
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
		if i == d {
			s.pos = i
			return nil, s.syntaxError("expected digit in exponent, found")
		}
	}
	s.pos = i
	return data[start:i], nil
}

// literal consumes the literal lit (true, false, null).
func (s *scanner) literal(lit string) *DecodeError {
	if len(s.data)-s.pos < len(lit) {
		s.pos = len(s.data)
		return s.syntaxError("")
	}
	for k := 0; k < len(lit); k++ {
		if s.data[s.pos+k] != lit[k] {
			s.pos += k
			return s.syntaxError("invalid character in literal")
		}
	}
	s.pos += len(lit)
	return nil
}

// isNull consumes a null literal if one is next.
func (s *scanner) isNull() bool {
	s.skipWS()
	if len(s.data)-s.pos >= 4 && string(s.data[s.pos:s.pos+4]) == "null" {
		s.pos += 4
		return true
	}
	return false
}

// skipValue consumes one JSON value of any type, validating it.
func (s *scanner) skipValue() *DecodeError {
	s.skipWS()
	if s.pos >= len(s.data) {
		return s.syntaxError("")
	}
	switch c := s.data[s.pos]; c {
	case '"':
		_, _, err := s.readString()
		return err
	case '{':
		return s.skipObject()
	case '[':
		return s.skipArray()
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			_, err := s.readNumber()
			return err
		}
		return s.syntaxError("invalid character")
	}
}

func (s *scanner) skipObject() *DecodeError {
	s.depth++
	if s.depth > maxDepth {
		return &DecodeError{Reason: "value is not JSON: nesting deeper than " + strconv.Itoa(maxDepth)}
	}
	s.pos++ // '{'
	for n := 0; ; n++ {
		s.skipWS()
		if s.pos >= len(s.data) {
			return s.syntaxError("")
		}
		c := s.data[s.pos]
		if n == 0 && c == '}' {
			s.pos++
			s.depth--
			return nil
		}
		if n > 0 {
			if c == '}' {
				s.pos++
				s.depth--
				return nil
			}
			if c != ',' {
				return s.syntaxError("expected ',' or '}' after object member, found")
			}
			s.pos++
			s.skipWS()
		}
		if _, _, err := s.readString(); err != nil {
			return err
		}
		s.skipWS()
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			return s.syntaxError("expected ':' after object key, found")
		}
		s.pos++
		if err := s.skipValue(); err != nil {
			return err
		}
	}
}

func (s *scanner) skipArray() *DecodeError {
	s.depth++
	if s.depth > maxDepth {
		return &DecodeError{Reason: "value is not JSON: nesting deeper than " + strconv.Itoa(maxDepth)}
	}
	s.pos++ // '['
	for n := 0; ; n++ {
		s.skipWS()
		if s.pos >= len(s.data) {
			return s.syntaxError("")
		}
		c := s.data[s.pos]
		if c == ']' && n == 0 {
			s.pos++
			s.depth--
			return nil
		}
		if n > 0 {
			if c == ']' {
				s.pos++
				s.depth--
				return nil
			}
			if c != ',' {
				return s.syntaxError("expected ',' or ']' after array element, found")
			}
			s.pos++
		}
		if err := s.skipValue(); err != nil {
			return err
		}
	}
}

// beginObject consumes the '{' of an object.
func (s *scanner) beginObject() *DecodeError {
	s.skipWS()
	if s.pos >= len(s.data) || s.data[s.pos] != '{' {
		return s.syntaxError("expected '{', found")
	}
	s.pos++
	return nil
}

// nextMember advances to the next member of an object opened with
// beginObject. n is the number of members already read. It returns the
// member's key (unescaped; a fresh slice only when the key has escapes) and
// leaves the scanner at the member's value, or done at the closing '}'.
func (s *scanner) nextMember(n int) (key []byte, done bool, err *DecodeError) {
	s.skipWS()
	if s.pos >= len(s.data) {
		return nil, false, s.syntaxError("")
	}
	c := s.data[s.pos]
	if c == '}' {
		s.pos++
		return nil, true, nil
	}
	if n > 0 {
		if c != ',' {
			return nil, false, s.syntaxError("expected ',' or '}' after object member, found")
		}
		s.pos++
		s.skipWS()
	}
	raw, esc, err := s.readString()
	if err != nil {
		return nil, false, err
	}
	if esc {
		raw = appendUnescaped(nil, raw)
	}
	s.skipWS()
	if s.pos >= len(s.data) || s.data[s.pos] != ':' {
		return nil, false, s.syntaxError("expected ':' after object key, found")
	}
	s.pos++
	s.skipWS()
	return raw, false, nil
}

// valueSpan consumes one value and returns its raw bytes.
func (s *scanner) valueSpan() ([]byte, *DecodeError) {
	s.skipWS()
	start := s.pos
	if err := s.skipValue(); err != nil {
		return nil, err
	}
	return s.data[start:s.pos], nil
}
