package debezium

import (
	"errors"
	"testing"
)

// FuzzDecode checks that Decode never panics, that its errors are
// *DecodeErrors with short excerpts, and that a successful change carries
// the row its op requires (after for r/c/u, before for d) of its table.
func FuzzDecode(f *testing.F) {
	for _, file := range []string{"envelope.jsonl", "flat.jsonl"} {
		for _, r := range loadSamples(f, file) {
			f.Add(r.Topic, []byte(r.Key), []byte(r.Value))
		}
	}
	for _, format := range allFormats {
		for _, dec := range allDecimals {
			for _, tm := range allTimes {
				opts := EncodeOptions{Format: format, Decimal: dec, Time: tm}
				for _, table := range []string{TableProducts, TableOrders, TableOrderItems} {
					befores, afters := roundTripRows(table)
					for _, op := range []Op{OpCreate, OpUpdate, OpDelete} {
						topic, key, value, err := Encode(opts, table, op, 7, befores[0], afters[0], Source{LSN: 3, TsMs: 4})
						if err != nil {
							f.Fatal(err)
						}
						f.Add(topic, key, value)
					}
				}
				topic, value, err := EncodeTruncate(opts, TableOrders, Source{LSN: 1})
				if err != nil {
					f.Fatal(err)
				}
				f.Add(topic, []byte(nil), value)
			}
		}
	}
	f.Add("x.orders", []byte(`{"id":1}`), []byte(`{"id":1,"customer_id":2,"total_amount":{"scale":3,"value":"MDk="},"status":"s","created_at":"2025-01-15 09:00:00+01"}`))
	f.Add("x.products", []byte(nil), []byte(`{"before":{"id":6},"op":"d"}`))

	d := NewDecoder(DecoderOptions{})
	f.Fuzz(func(t *testing.T, topic string, key, value []byte) {
		m, err := d.Decode(topic, key, value)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is %T, not *DecodeError", err, err)
			}
			if len(de.Got) > 40 {
				t.Fatalf("Got excerpt of %d bytes", len(de.Got))
			}
			_ = de.Error()
			return
		}
		switch m.Kind {
		case KindTombstone:
			return
		case KindChange, KindTruncate:
		default:
			t.Fatalf("kind %d", m.Kind)
		}
		ti := tableIndexString(m.Table)
		if ti < 0 {
			t.Fatalf("table %q", m.Table)
		}
		if m.Kind == KindTruncate {
			if m.Op != OpTruncate {
				t.Fatalf("truncate with op %q", m.Op)
			}
			return
		}
		var before, after bool
		switch ti {
		case tiProducts:
			before, after = m.BeforeProduct != nil, m.AfterProduct != nil
		case tiOrders:
			before, after = m.BeforeOrder != nil, m.AfterOrder != nil
		case tiOrderItems:
			before, after = m.BeforeItem != nil, m.AfterItem != nil
		}
		switch m.Op {
		case OpRead, OpCreate, OpUpdate:
			if !after {
				t.Fatalf("op %s without after row: %s", m.Op, dumpMessage(m))
			}
		case OpDelete:
			if !before {
				t.Fatalf("delete without before row: %s", dumpMessage(m))
			}
		default:
			t.Fatalf("change with op %q", m.Op)
		}
	})
}
