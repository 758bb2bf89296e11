package confluent

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

func TestSplitFrame(t *testing.T) {
	payload := []byte{0x02, 0x0e, 0xff}
	b := Frame(0x01020304, payload)
	if want := []byte{0, 1, 2, 3, 4, 0x02, 0x0e, 0xff}; !bytes.Equal(b, want) {
		t.Fatalf("Frame = % x, want % x", b, want)
	}
	id, p, ok := Split(b)
	if !ok || id != 0x01020304 || !bytes.Equal(p, payload) {
		t.Fatalf("Split = %d % x %v", id, p, ok)
	}
	// Highest bit set: the id is read as a signed 32-bit integer, as Java does.
	if id, _, _ := Split(Frame(-2, nil)); id != -2 {
		t.Fatalf("id = %d, want -2", id)
	}
	// Empty payload is framed (a registered schema whose datum is empty).
	if _, p, ok := Split([]byte{0, 0, 0, 0, 7}); !ok || len(p) != 0 {
		t.Fatalf("header only: ok=%v payload=% x", ok, p)
	}
	for _, b := range [][]byte{nil, {}, {0}, {0, 0, 0, 1}, {1, 0, 0, 0, 1, 2}, []byte(`{"id":1}`)} {
		if _, _, ok := Split(b); ok {
			t.Errorf("Split(% x) ok, want not framed", b)
		}
	}
}

func TestSplitProtobuf(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want []int
		rest []byte
	}{
		{[]byte{0, 0x08, 0x01}, []int{0}, []byte{0x08, 0x01}},
		{[]byte{4, 2, 4, 0x08}, []int{1, 2}, []byte{0x08}}, // zigzag: 4 means 2, 2 means 1
		{[]byte{2, 0}, []int{0}, nil},
	} {
		got, rest, err := SplitProtobuf(tc.in)
		if err != nil || !slices.Equal(got, tc.want) || !bytes.Equal(rest, tc.rest) {
			t.Errorf("SplitProtobuf(% x) = %v % x %v, want %v % x", tc.in, got, rest, err, tc.want, tc.rest)
		}
	}
	for _, bad := range [][]byte{nil, {1}, {4, 2}, {0x80}, {3}, {2, 1}, {0xfe, 0x0f}} {
		if _, _, err := SplitProtobuf(bad); !errors.Is(err, ErrMessageIndexes) {
			t.Errorf("SplitProtobuf(% x) err = %v, want ErrMessageIndexes", bad, err)
		}
	}
	for _, idx := range [][]int{{0}, {1}, {3, 0, 7}, {0, 0}} {
		b := AppendProtobufIndexes(nil, idx)
		got, rest, err := SplitProtobuf(append(b, 0x2a))
		if err != nil || !slices.Equal(got, idx) || !bytes.Equal(rest, []byte{0x2a}) {
			t.Errorf("round trip %v: % x -> %v % x %v", idx, b, got, rest, err)
		}
	}
	if b := AppendProtobufIndexes(nil, []int{0}); !bytes.Equal(b, []byte{0}) {
		t.Errorf("[0] renders % x, want 00", b)
	}
}

func FuzzSplit(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 1, 0, 2})
	f.Add([]byte{2, 2, 4})
	f.Fuzz(func(t *testing.T, b []byte) {
		if id, p, ok := Split(b); ok && !bytes.Equal(Frame(id, p), b) {
			t.Fatalf("Frame(Split(b)) != b")
		}
		_, _, _ = SplitProtobuf(b)
	})
}
