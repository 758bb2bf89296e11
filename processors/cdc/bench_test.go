package cdc

import (
	"context"
	"testing"

	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/tools/dbzenc"
)

// BenchmarkHandle measures the input edge per record: decoding, counting
// and the handler call, for a JSON envelope (the path without a registry
// lookup) and the same change as framed Avro and as framed JSON with a
// JSON Schema (JsonSchemaConverter), their schemas cached.
func BenchmarkHandle(b *testing.B) {
	for _, f := range []dbzenc.Format{dbzenc.FormatEnvelope, dbzenc.FormatAvro, dbzenc.FormatJSONSchema} {
		b.Run(f.String(), func(b *testing.B) {
			h := newHarness(b, true)
			var key, value []byte
			if f.JSONSchema() {
				key, value = encodeJSONSchema(b, h.srv, f)
			} else {
				key, value = encode(b, h.srv, f)
			}
			c := &fakeCtx{topic: products, key: string(key), ctx: context.Background()}
			nop := func(_ gokaContext, _ *debezium.Message) error { return nil }
			h.in.handle(c, value, nop) // the schemas are cached from here on
			b.ReportAllocs()
			b.SetBytes(int64(len(value)))
			b.ResetTimer()
			for range b.N {
				h.in.handle(c, value, nop)
			}
			if len(c.emitted) != 0 {
				b.Fatal("dead-lettered")
			}
		})
	}
}
