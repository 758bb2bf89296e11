package deadletters

import (
	"strings"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/views/tail"
)

func TestLetterReadsTheContractHeaders(t *testing.T) {
	at := time.Date(2026, 12, 6, 4, 0, 0, 0, time.UTC)
	l := letter(tail.Record{Time: at, Key: []byte("42"), Value: []byte("not json"), Headers: map[string][]byte{
		"error": []byte("decode: value is not JSON"), "source_topic": []byte("dbserver1.public.products"),
		"source_partition": []byte("2"), "source_offset": []byte("17"), "service": []byte("inventory-service"),
	}})
	want := Letter{Time: "2026-12-06T04:00:00Z", Error: "decode: value is not JSON", SourceTopic: "dbserver1.public.products",
		SourcePartition: 2, SourceOffset: 17, Key: "42", Value: "not json"}
	if l != want {
		t.Errorf("letter = %+v, want %+v", l, want)
	}
	// Headers that break the contract are shown, not hidden.
	if l := letter(tail.Record{Time: at, Headers: map[string][]byte{"source_offset": []byte("x")}}); l.HeaderProblem == "" {
		t.Errorf("bad headers: no header problem reported: %+v", l)
	}
}

func TestLongAndBinaryValuesAreCut(t *testing.T) {
	v := strings.Repeat("é", MaxShown) // 2 bytes a rune: cut in the middle of one
	l := letter(tail.Record{Value: []byte(v)})
	if !l.Truncated || len(l.Value) > MaxShown+3 || !strings.HasPrefix(v, strings.TrimSuffix(l.Value, "\uFFFD")) {
		t.Errorf("cut value: truncated %v, %d bytes", l.Truncated, len(l.Value))
	}
	if l := letter(tail.Record{Value: []byte{0xff, 'a'}}); l.Value != "\uFFFDa" || l.Truncated {
		t.Errorf("binary value shown as %q", l.Value)
	}
}
