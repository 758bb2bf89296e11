package debezium

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

func TestHasSpecialByte(t *testing.T) {
	naive := func(w uint64) bool {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], w)
		for _, c := range b {
			if c == '"' || c == '\\' || c < 0x20 {
				return true
			}
		}
		return false
	}
	check := func(w uint64) {
		if got, want := hasSpecialByte(w), naive(w); got != want {
			t.Fatalf("hasSpecialByte(%#016x) = %v, want %v", w, got, want)
		}
	}
	// Every byte value at every position, in a word of safe bytes ('a')
	// and of high bytes (0xff, UTF-8 continuation-like).
	for _, fill := range []byte{'a', 0xff, 0x80, 0x21} {
		for pos := 0; pos < 8; pos++ {
			for c := 0; c < 256; c++ {
				var b [8]byte
				for i := range b {
					b[i] = fill
				}
				b[pos] = byte(c)
				check(binary.LittleEndian.Uint64(b[:]))
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200000; i++ {
		check(r.Uint64())
	}
}

// Strings longer than a word with specials at every offset.
func TestReadStringSpecialsAtEveryOffset(t *testing.T) {
	for n := 0; n < 40; n++ {
		for pos := 0; pos < n; pos++ {
			for _, special := range []string{`\"`, `\\`, `\n`, `\u00e9`} {
				body := make([]byte, 0, n+8)
				for i := 0; i < n; i++ {
					if i == pos {
						body = append(body, special...)
					} else {
						body = append(body, 'x')
					}
				}
				doc := append(append([]byte{'"'}, body...), '"', ',')
				s := scanner{data: doc}
				raw, esc, err := s.readString()
				if err != nil || !esc || string(raw) != string(body) || s.pos != len(doc)-1 {
					t.Fatalf("%q: raw %q esc %v err %v pos %d", doc, raw, esc, err, s.pos)
				}
			}
			// A raw control character is an error wherever it is.
			doc := []byte(`"`)
			for i := 0; i < n; i++ {
				if i == pos {
					doc = append(doc, 0x01)
				} else {
					doc = append(doc, 'y')
				}
			}
			doc = append(doc, '"')
			s := scanner{data: doc}
			if _, _, err := s.readString(); err == nil {
				t.Fatalf("%q: control character accepted", doc)
			}
		}
	}
}
