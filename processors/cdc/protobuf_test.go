package cdc

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/cdcflow/cdcflow/codecs/confluent"
	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/tools/dbzenc"
)

func encodeProtobuf(t testing.TB, h *harness, format dbzenc.Format) (key, value []byte) {
	t.Helper()
	_, key, value, err := dbzenc.Encode(dbzenc.EncodeOptions{Format: format, Register: typedRegister(h.srv, "PROTOBUF")}, debezium.TableProducts,
		debezium.OpCreate, product.ID, nil, &product, dbzenc.Source{LSN: 0x1533_6A8, TsMs: 1736931600123, LastCommitLSN: 0x1533_000})
	if err != nil {
		t.Fatal(err)
	}
	return key, value
}

// TestProtobufRecordsDecodeLikeJSON: a ProtobufConverter record (key framed
// too, message indexes [0]) reaches the handler as the same Message as its
// JSON envelope, envelope and flattened; each schema id is asked for once.
func TestProtobufRecordsDecodeLikeJSON(t *testing.T) {
	h := newHarness(t, true)
	dec := debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: 2})
	for _, f := range []struct{ framed, json dbzenc.Format }{
		{dbzenc.FormatProtobuf, dbzenc.FormatEnvelope}, {dbzenc.FormatProtobufFlat, dbzenc.FormatFlat},
	} {
		key, value := encodeProtobuf(t, h, f.framed)
		if _, kp, ok := confluent.Split(key); !ok || kp[0] != 0 {
			t.Fatalf("%s key is not framed with indexes [0]", f.framed)
		}
		jk, jv := encode(t, h.srv, f.json)
		want, err := dec.Decode(products, jk, jv)
		if err != nil {
			t.Fatal(err)
		}
		h.handled = nil
		for range 3 {
			if c := h.handle(context.Background(), products, key, value); len(c.emitted) != 0 {
				t.Fatalf("%s: dead-lettered: %s", f.framed, h.log.String())
			}
		}
		if h.count() != 3 {
			t.Fatalf("%s: handled %d, want 3", f.framed, h.count())
		}
		for _, m := range h.handled {
			if m.ID != want.ID || m.Op != want.Op || m.Pos != want.Pos || m.Table != want.Table || m.AfterProduct == nil || *m.AfterProduct != *want.AfterProduct {
				t.Fatalf("%s message %+v (%+v), want %+v (%+v)", f.framed, m, m.AfterProduct, want, want.AfterProduct)
			}
		}
	}
	// Three ids: two Protobuf values and their key.
	if n := h.srv.Requests("GET /schemas/ids/{id}"); n != 3 {
		t.Fatalf("%d registry requests for 3 schema ids, want 3", n)
	}
}

// TestProtobufMessageIndexes: the message indexes after the schema id select
// the message: [1] reads the second top-level message of the schema; a
// path naming no message is dead-lettered.
func TestProtobufMessageIndexes(t *testing.T) {
	h := newHarness(t, true)
	schema := `syntax = "proto3";
package dbserver1.public.products;
message Other { int64 x = 1; }
message Value { int32 id = 1; string name = 2; string price = 3; int32 stock_quantity = 4; optional string __op = 5; }
`
	id, err := typedRegister(h.srv, "PROTOBUF")(products+"-value", schema)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte{0x08, 0x05, 0x12, 0x01, 'n', 0x1a, 0x04, '1', '.', '2', '5', 0x20, 0x0c, 0x2a, 0x01, 'c'}
	value := confluent.Frame(id, append(confluent.AppendProtobufIndexes(nil, []int{1}), msg...))
	if c := h.handle(context.Background(), products, []byte(`{"id":5}`), value); len(c.emitted) != 0 || h.count() != 1 {
		t.Fatalf("emitted %d, handled %d: %s", len(c.emitted), h.count(), h.log.String())
	}
	if p := h.handled[0].AfterProduct; h.handled[0].ID != 5 || p == nil || p.PriceCents != 125 || p.StockQuantity != 12 || p.Name != "n" {
		t.Fatalf("handled %+v %+v", h.handled[0], p)
	}
	bad := confluent.Frame(id, append(confluent.AppendProtobufIndexes(nil, []int{3}), msg...))
	c := h.handle(context.Background(), products, []byte(`{"id":5}`), bad)
	if len(c.emitted) != 1 || h.count() != 1 || !strings.Contains(h.log.String(), "name no message of the schema") {
		t.Fatalf("emitted %d, handled %d: %s", len(c.emitted), h.count(), h.log.String())
	}
}

// TestUnusableProtobufSchemaIsDeadLettered: a record whose Protobuf schema
// does not compile (an import nobody provides) goes to the dead-letter
// topic as a schema error with the reason.
func TestUnusableProtobufSchemaIsDeadLettered(t *testing.T) {
	h := newHarness(t, true)
	id, err := typedRegister(h.srv, "PROTOBUF")(products+"-value", `syntax = "proto3"; import "acme/money.proto"; message Envelope { string op = 1; }`)
	if err != nil {
		t.Fatal(err)
	}
	c := h.handle(context.Background(), products, []byte(`{"id":5}`), confluent.Frame(id, []byte{0, 0x0a, 1, 'c'}))
	checkDeadLetter(t, h, c, fmt.Sprintf("schema id %d: cannot read the registry's schema: schema: unusable Protobuf schema: 1:27: could not resolve path \\\"acme/money.proto\\\": file does not exist", id))
}

// TestBadProtobufRecordIsDeadLettered: a Protobuf record whose message does
// not fit its schema (a field of the wrong wire type, truncated data) goes
// to the dead-letter topic naming the schema id.
func TestBadProtobufRecordIsDeadLettered(t *testing.T) {
	h := newHarness(t, true)
	key, value := encodeProtobuf(t, h, dbzenc.FormatProtobuf)
	id, payload, _ := confluent.Split(value)
	for i, bad := range [][]byte{payload[:len(payload)-3], append([]byte{0, 0x25, 1, 2, 3, 4}, payload[1:]...)} {
		c := h.handle(context.Background(), products, key, confluent.Frame(id, bad))
		if len(c.emitted) != 1 || h.count() != 0 {
			t.Fatalf("%d: emitted %d, handled %d", i, len(c.emitted), h.count())
		}
		if logged := h.log.String(); !strings.Contains(logged, fmt.Sprintf("decode protobuf (schema id %d)", id)) {
			t.Fatalf("%d: logged %q", i, logged)
		}
	}
	// A Protobuf key with an Avro value is refused, not misread.
	_, avroValue := encode(t, h.srv, dbzenc.FormatAvro)
	c := h.handle(context.Background(), products, key, avroValue)
	if len(c.emitted) != 1 || !strings.Contains(h.log.String(), "a Protobuf key with an Avro value is not supported") {
		t.Fatalf("emitted %d: %s", len(c.emitted), h.log.String())
	}
}
