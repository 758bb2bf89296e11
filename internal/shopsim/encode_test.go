package shopsim

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/cdcflow/cdcflow/codecs/debezium"
)

// allEncodeOptions is every shape a Debezium deployment produces.
func allEncodeOptions() []debezium.EncodeOptions {
	var out []debezium.EncodeOptions
	for _, f := range []debezium.Format{debezium.FormatEnvelope, debezium.FormatEnvelopeNoSchema, debezium.FormatFlat, debezium.FormatFlatNoSchema} {
		for _, d := range []debezium.DecimalMode{debezium.DecimalPrecise, debezium.DecimalString, debezium.DecimalDouble} {
			for _, tm := range []debezium.TimeMode{debezium.TimeMicro, debezium.TimeMilli, debezium.TimeNano, debezium.TimeZoned} {
				out = append(out, debezium.EncodeOptions{Format: f, Decimal: d, Time: tm})
			}
		}
	}
	return out
}

// TestEncodeRecords checks the wiring of Encode, independently of the
// codec's own tests: one record per change on the right topic, a
// tombstone after each delete, and the op, id and position in each value.
func TestEncodeRecords(t *testing.T) {
	changes := New(Config{Seed: 13, Products: 5}).Generate(1500)
	deletes := 0
	for _, c := range changes {
		if c.Op == debezium.OpDelete {
			deletes++
		}
	}
	if deletes == 0 {
		t.Fatal("test premise: no deletes in the log")
	}
	for _, opts := range allEncodeOptions() {
		name := fmt.Sprintf("%v/%v/%v", opts.Format, opts.Decimal, opts.Time)
		recs, err := Encode(changes, opts)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(recs) != len(changes)+deletes {
			t.Fatalf("%s: %d records for %d changes and %d deletes", name, len(recs), len(changes), deletes)
		}
		next := 0
		for i, rec := range recs {
			if rec.Change == nil {
				prev := recs[i-1]
				if rec.Value != nil || prev.Change == nil || prev.Change.Op != debezium.OpDelete ||
					rec.Topic != prev.Topic || string(rec.Key) != string(prev.Key) {
					t.Fatalf("%s: record %d: a tombstone not right after its delete", name, i)
				}
				continue
			}
			c := rec.Change
			if c != &changes[next] {
				t.Fatalf("%s: record %d does not point at change %d", name, i, next)
			}
			next++
			if rec.Topic != "dbserver1.public."+c.Table {
				t.Fatalf("%s: record %d topic %q", name, i, rec.Topic)
			}
			var key struct {
				Payload *struct{ ID int64 } `json:"payload"`
				ID      *int64              `json:"id"`
			}
			if err := json.Unmarshal(rec.Key, &key); err != nil {
				t.Fatalf("%s: record %d key %s: %v", name, i, rec.Key, err)
			}
			if (key.Payload == nil || key.Payload.ID != c.ID) && (key.ID == nil || *key.ID != c.ID) {
				t.Fatalf("%s: record %d key %s, want id %d", name, i, rec.Key, c.ID)
			}
			var v map[string]any
			if err := json.Unmarshal(rec.Value, &v); err != nil {
				t.Fatalf("%s: record %d value: %v", name, i, err)
			}
			if p, ok := v["payload"].(map[string]any); ok {
				v = p
			}
			var op string
			var lsn float64
			if src, ok := v["source"].(map[string]any); ok {
				op, _ = v["op"].(string)
				lsn, _ = src["lsn"].(float64)
				if ts, _ := src["ts_ms"].(float64); int64(ts) != c.Src.TsMs {
					t.Fatalf("%s: record %d source.ts_ms %v, want %d", name, i, src["ts_ms"], c.Src.TsMs)
				}
			} else {
				op, _ = v["__op"].(string)
				lsn, _ = v["__source_lsn"].(float64)
				if del, want := v["__deleted"], fmt.Sprint(c.Op == debezium.OpDelete); del != want {
					t.Fatalf("%s: record %d __deleted %v, want %s", name, i, del, want)
				}
			}
			if op != c.Op.String() || uint64(lsn) != c.Src.LSN {
				t.Fatalf("%s: record %d op %q lsn %v, want %c %d", name, i, op, lsn, c.Op, c.Src.LSN)
			}
		}
	}
}

// atPrecision drops the sub-millisecond digits of a row's times when the
// time mode cannot carry them.
func atPrecision(row any, tm debezium.TimeMode) any {
	if row == nil || tm != debezium.TimeMilli {
		return row
	}
	ms := func(us int64) int64 { return us / 1000 * 1000 } // times are after 1970
	switch v := cloneRow(row).(type) {
	case *debezium.Product:
		v.CreatedAt, v.UpdatedAt = ms(v.CreatedAt), ms(v.UpdatedAt)
		return v
	case *debezium.Order:
		v.CreatedAt, v.UpdatedAt = ms(v.CreatedAt), ms(v.UpdatedAt)
		return v
	case *debezium.OrderItem:
		v.CreatedAt = ms(v.CreatedAt)
		return v
	}
	return row
}

// images returns the message's row images for its table, as untyped nils
// when absent.
func images(m debezium.Message) (before, after any) {
	switch m.Table {
	case debezium.TableProducts:
		return nilRow(m.BeforeProduct), nilRow(m.AfterProduct)
	case debezium.TableOrders:
		return nilRow(m.BeforeOrder), nilRow(m.AfterOrder)
	case debezium.TableOrderItems:
		return nilRow(m.BeforeItem), nilRow(m.AfterItem)
	}
	return nil, nil
}

// TestEncodeDecodeRoundTrip decodes every encoded record of a generated log,
// in every shape, back into the rows and positions of its change.
func TestEncodeDecodeRoundTrip(t *testing.T) {
	changes := New(Config{Seed: 17, Products: 8}).Generate(1500)
	dec := debezium.NewDecoder(debezium.DecoderOptions{})
	for _, opts := range allEncodeOptions() {
		name := fmt.Sprintf("%v/%v/%v", opts.Format, opts.Decimal, opts.Time)
		recs, err := Encode(changes, opts)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		flat := opts.Format == debezium.FormatFlat || opts.Format == debezium.FormatFlatNoSchema
		for i, rec := range recs {
			m, err := dec.Decode(rec.Topic, rec.Key, rec.Value)
			if err != nil {
				t.Fatalf("%s: record %d (%s): %v\nvalue %s", name, i, rec.Topic, err, rec.Value)
			}
			if rec.Change == nil {
				if m.Kind != debezium.KindTombstone || m.ID != recs[i-1].Change.ID {
					t.Fatalf("%s: record %d: tombstone decoded as %+v", name, i, m)
				}
				continue
			}
			c := rec.Change
			if m.Kind != debezium.KindChange || m.Table != c.Table || m.Op != c.Op || m.ID != c.ID || m.Pos != c.Pos() {
				t.Fatalf("%s: record %d: decoded %v %s %c id=%d %v, want %s %c id=%d %v",
					name, i, m.Kind, m.Table, m.Op, m.ID, m.Pos, c.Table, c.Op, c.ID, c.Pos())
			}
			wantBefore, wantAfter := atPrecision(c.Before, opts.Time), atPrecision(c.After, opts.Time)
			if flat && c.Op == debezium.OpUpdate {
				wantBefore = nil // ExtractNewRecordState keeps only the new row
			}
			gotBefore, gotAfter := images(m)
			if !reflect.DeepEqual(gotBefore, wantBefore) || !reflect.DeepEqual(gotAfter, wantAfter) {
				t.Fatalf("%s: record %d (%s %c id=%d):\n before %+v\n want   %+v\n after  %+v\n want   %+v",
					name, i, c.Table, c.Op, c.ID, gotBefore, wantBefore, gotAfter, wantAfter)
			}
		}
	}
}
