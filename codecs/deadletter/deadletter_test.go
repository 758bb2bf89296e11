package deadletter

import (
	"errors"
	"fmt"
	"maps"
	"strconv"
	"testing"
	"time"

	"github.com/lovoo/goka"
)

type source struct {
	topic     goka.Stream
	partition int32
	offset    int64
	ts        time.Time
}

func (s source) Topic() goka.Stream   { return s.topic }
func (s source) Partition() int32     { return s.partition }
func (s source) Offset() int64        { return s.offset }
func (s source) Timestamp() time.Time { return s.ts }

// goka.Context is a Source: the writer passes its callback's context.
var _ Source = goka.Context(nil)

// TestForMatchesTheContract: the headers For builds are, byte for byte,
// those the CDC input edge has always written (processors/cdc's literal
// map), so readers of either see the same.
func TestForMatchesTheContract(t *testing.T) {
	ts := time.Date(2025, 1, 15, 9, 0, 0, 123_000_000, time.UTC)
	src := source{topic: "dbserver1.public.products", partition: 2, offset: 41, ts: ts}
	got := For(src, "inventory-service", errors.New("decode: boom")).Goka()
	want := goka.Headers{
		"error":            []byte("decode: boom"),
		"source_topic":     []byte("dbserver1.public.products"),
		"source_partition": []byte(strconv.FormatInt(int64(src.partition), 10)),
		"source_offset":    []byte(strconv.FormatInt(src.offset, 10)),
		"service":          []byte("inventory-service"),
		"source_timestamp": []byte(strconv.FormatInt(ts.UnixMilli(), 10)),
	}
	if !maps.EqualFunc(got, want, func(a, b []byte) bool { return string(a) == string(b) }) {
		t.Fatalf("headers %s, want %s", show(got), show(want))
	}
	if string(got[HeaderSourceTimestamp]) != "1736931600123" {
		t.Errorf("source_timestamp %q, want 1736931600123", got[HeaderSourceTimestamp])
	}
}

func TestRoundTrip(t *testing.T) {
	for _, h := range []Headers{
		{Error: "decode: not JSON", SourceTopic: "dbserver1.public.order_items", SourcePartition: 0, SourceOffset: 9,
			Service: "analytics-service", SourceTimestamp: time.UnixMilli(1736931600123).UTC()},
		{Error: "x", SourceTopic: "t", SourcePartition: 1<<31 - 1, SourceOffset: 1<<63 - 1, Service: "s"}, // no timestamp
	} {
		got, err := Parse(h.Goka())
		if err != nil {
			t.Fatalf("Parse(%+v.Goka()): %v", h, err)
		}
		if got != h {
			t.Errorf("round trip of %+v gave %+v", h, got)
		}
		if _, ok := h.Goka()[HeaderSourceTimestamp]; ok == h.SourceTimestamp.IsZero() {
			t.Errorf("%+v: source_timestamp present %v", h, ok)
		}
	}
}

func TestForWithoutReason(t *testing.T) {
	if h := For(source{topic: "t"}, "s", nil); h.Error != "" || h.SourceTopic != "t" || h.Service != "s" {
		t.Errorf("For without a reason: %+v", h)
	}
}

// TestParseReportsEveryProblem: Parse keeps what it can read and names
// every missing or malformed header.
func TestParseReportsEveryProblem(t *testing.T) {
	g := goka.Headers{
		HeaderSourceTopic:     []byte("../a/b c"),
		HeaderSourcePartition: []byte("1"),
		HeaderSourceOffset:    []byte("ten"),
		HeaderSourceTimestamp: []byte("soon"),
		HeaderService:         []byte(""), // empty counts as missing
	}
	h, err := Parse(g)
	if h.SourceTopic != "../a/b c" || h.SourcePartition != 1 || h.SourceOffset != 0 || !h.SourceTimestamp.IsZero() {
		t.Errorf("parsed %+v", h)
	}
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T), want a *ParseError", err, err)
	}
	want := `dead-letter headers: header error: missing; header source_offset "ten": invalid syntax; ` +
		`header service: missing; header source_timestamp "soon": invalid syntax`
	if err.Error() != want {
		t.Errorf("error\n%s\nwant\n%s", err, want)
	}
	for name, bad := range map[string]bool{HeaderError: true, HeaderSourceTopic: false, HeaderSourcePartition: false,
		HeaderSourceOffset: true, HeaderService: true, HeaderSourceTimestamp: true} {
		if pe.Bad(name) != bad {
			t.Errorf("Bad(%s) = %v, want %v", name, pe.Bad(name), bad)
		}
	}
	if !errors.Is(err, ErrMissing) || !errors.Is(err, strconv.ErrSyntax) {
		t.Errorf("error %v: want it to wrap ErrMissing and strconv.ErrSyntax", err)
	}
	var bh *BadHeader
	if !errors.As(err, &bh) || bh.Name != HeaderError {
		t.Errorf("errors.As(*BadHeader) = %+v, want the error header first", bh)
	}
}

func TestParseNoHeaders(t *testing.T) {
	h, err := Parse(nil)
	if h != (Headers{}) {
		t.Errorf("parsed %+v from no headers", h)
	}
	var pe *ParseError
	if !errors.As(err, &pe) || len(pe.Problems) != 5 || !errors.Is(err, ErrMissing) {
		t.Fatalf("error %v, want the five headers of the contract missing", err)
	}
	if pe.Bad(HeaderSourceTimestamp) {
		t.Error("an absent source_timestamp is a problem; it is optional")
	}
}

func TestParseRanges(t *testing.T) {
	base := For(source{topic: "t", partition: 1, offset: 2}, "s", errors.New("e")).Goka()
	for _, tc := range []struct {
		name, value string
		bad         bool
	}{
		{HeaderSourcePartition, "2147483648", true}, // beyond int32
		{HeaderSourcePartition, "-1", false},
		{HeaderSourcePartition, " 1", true},
		{HeaderSourceOffset, "9223372036854775808", true}, // beyond int64
		{HeaderSourceOffset, "0", false},
		{HeaderSourceTimestamp, "-62135596800000", false}, // a writer's zero time: unknown
		{HeaderSourceTimestamp, "0", false},
		{HeaderSourceTimestamp, "1.5", true},
	} {
		g := maps.Clone(base)
		g[tc.name] = []byte(tc.value)
		h, err := Parse(g)
		var pe *ParseError
		errors.As(err, &pe)
		if pe.Bad(tc.name) != tc.bad || (err != nil) != tc.bad {
			t.Errorf("%s %q: error %v, want bad %v", tc.name, tc.value, err, tc.bad)
		}
		if tc.name == HeaderSourceTimestamp && !h.SourceTimestamp.IsZero() {
			t.Errorf("%s %q: timestamp %v, want unknown", tc.name, tc.value, h.SourceTimestamp)
		}
	}
	var nilErr *ParseError
	if nilErr.Bad(HeaderError) {
		t.Error("a nil *ParseError reports a bad header")
	}
}

func show(g goka.Headers) string {
	m := map[string]string{}
	for k, v := range g {
		m[k] = string(v)
	}
	return fmt.Sprint(m)
}
