package dlq

import (
	"testing"
	"time"

	"github.com/lovoo/goka"

	"github.com/cdcflow/cdcflow/codecs/deadletter"
)

func TestBuildObject(t *testing.T) {
	ts := time.Date(2025, 1, 15, 13, 4, 5, 678_000_000, time.FixedZone("CET", 3600)) // 12:04:05.678 UTC
	full := goka.Headers{
		deadletter.HeaderError: []byte("decode: missing column price"), deadletter.HeaderSourceTopic: []byte("dbserver1.public.products"),
		deadletter.HeaderSourcePartition: []byte("2"), deadletter.HeaderSourceOffset: []byte("1234"), deadletter.HeaderService: []byte("inventory-service"),
	}
	for _, tc := range []struct {
		name    string
		rec     Record
		key     string
		wantDoc string
	}{{
		name: "all headers",
		rec:  Record{Topic: "inventory-service-dlq", Partition: 1, Offset: 7, Timestamp: ts, Key: []byte(`{"id":3}`), Value: []byte(`{"op":"c"}`), Headers: full},
		key:  "dlq/inventory-service/dbserver1.public.products/20250115_120405_p2_o1234.json",
		wantDoc: `{"topic":"dbserver1.public.products","message":"{\"op\":\"c\"}","error":"decode: missing column price",` +
			`"timestamp":"2025-01-15T12:04:05.678Z","service":"inventory-service","key":"{\"id\":3}",` +
			`"source_partition":2,"source_offset":1234,"dlq_topic":"inventory-service-dlq","dlq_partition":1,"dlq_offset":7}`,
	}, {
		name: "binary key and value",
		rec:  Record{Topic: "d", Partition: 0, Offset: 1, Timestamp: ts, Key: []byte{0x80}, Value: []byte{0xc3, 0x28}, Headers: full},
		key:  "dlq/inventory-service/dbserver1.public.products/20250115_120405_p2_o1234.json",
		wantDoc: `{"topic":"dbserver1.public.products","message":"wyg=","message_encoding":"base64","error":"decode: missing column price",` +
			`"timestamp":"2025-01-15T12:04:05.678Z","service":"inventory-service","key":"gA==","key_encoding":"base64",` +
			`"source_partition":2,"source_offset":1234,"dlq_topic":"d","dlq_partition":0,"dlq_offset":1}`,
	}, {
		name: "no headers: the archiver's service and the dead letter's own coordinates",
		rec:  Record{Topic: "search-indexer-dlq", Partition: 2, Offset: 99, Timestamp: ts, Value: []byte("x")},
		key:  "dlq/search-indexer/unknown/20250115_120405_d2_o99.json",
		wantDoc: `{"topic":"","message":"x","error":"","timestamp":"2025-01-15T12:04:05.678Z","service":"search-indexer",` +
			`"key":"","dlq_topic":"search-indexer-dlq","dlq_partition":2,"dlq_offset":99}`,
	}, {
		name: "malformed offset header and unsafe topic",
		rec: Record{Topic: "x-dlq", Partition: 0, Offset: 3, Timestamp: ts, Value: []byte("x"), Headers: goka.Headers{
			deadletter.HeaderSourceTopic: []byte("../a/b c"), deadletter.HeaderSourcePartition: []byte("1"), deadletter.HeaderSourceOffset: []byte("ten"),
		}},
		key: "dlq/search-indexer/.._a_b_c/20250115_120405_d0_o3.json",
		wantDoc: `{"topic":"../a/b c","message":"x","error":"","timestamp":"2025-01-15T12:04:05.678Z","service":"search-indexer",` +
			`"key":"","source_partition":1,"dlq_topic":"x-dlq","dlq_partition":0,"dlq_offset":3}`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			obj, err := buildObject(tc.rec, "search-indexer")
			if err != nil {
				t.Fatal(err)
			}
			if obj.key != tc.key {
				t.Errorf("key %q, want %q", obj.key, tc.key)
			}
			if string(obj.body) != tc.wantDoc {
				t.Errorf("body\n%s\nwant\n%s", obj.body, tc.wantDoc)
			}
			again, err := buildObject(tc.rec, "search-indexer")
			if err != nil || again.key != obj.key || string(again.body) != string(obj.body) {
				t.Errorf("building the same record again gave %q %s (%v)", again.key, again.body, err)
			}
		})
	}
}

func TestSegment(t *testing.T) {
	for in, want := range map[string]string{
		"dbserver1.public.products": "dbserver1.public.products",
		"":                          "_",
		".":                         "_",
		"..":                        "_",
		"a/b":                       "a_b",
		"ü-x_1":                     "_-x_1",
	} {
		if got := segment(in); got != want {
			t.Errorf("segment(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSameSourceRecordDeadLetteredTwiceIsOneObject(t *testing.T) {
	headers := goka.Headers{
		deadletter.HeaderError: []byte("decode: boom"), deadletter.HeaderSourceTopic: []byte("dbserver1.public.products"),
		deadletter.HeaderSourcePartition: []byte("2"), deadletter.HeaderSourceOffset: []byte("41"), deadletter.HeaderService: []byte("inventory-service"),
		deadletter.HeaderSourceTimestamp: []byte("1736931600123"),
	}
	first := Record{Topic: "inventory-service-dlq", Partition: 0, Offset: 7, Timestamp: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Value: []byte("x"), Headers: headers}
	again := first
	again.Offset, again.Timestamp = 9, time.Date(2026, 1, 1, 0, 5, 0, 0, time.UTC) // re-sent after a crash, minutes later
	a, err := buildObject(first, "inventory-service")
	if err != nil {
		t.Fatal(err)
	}
	b, err := buildObject(again, "inventory-service")
	if err != nil {
		t.Fatal(err)
	}
	want := "dlq/inventory-service/dbserver1.public.products/20250115_090000_p2_o41.json"
	if a.key != want || b.key != want {
		t.Fatalf("keys %q and %q, want both %q", a.key, b.key, want)
	}
}
