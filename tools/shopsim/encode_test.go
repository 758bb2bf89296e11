package shopsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/tools/dbzenc"
)

// allEncodeOptions is every shape a Debezium deployment produces, the
// flattened ones with and without __source_sequence.
func allEncodeOptions() []dbzenc.EncodeOptions {
	var out []dbzenc.EncodeOptions
	for _, f := range []dbzenc.Format{dbzenc.FormatEnvelope, dbzenc.FormatEnvelopeNoSchema, dbzenc.FormatFlat, dbzenc.FormatFlatNoSchema} {
		for _, d := range []dbzenc.DecimalMode{dbzenc.DecimalPrecise, dbzenc.DecimalString, dbzenc.DecimalDouble, dbzenc.DecimalNumeric} {
			for _, tm := range []dbzenc.TimeMode{dbzenc.TimeMicro, dbzenc.TimeMilli, dbzenc.TimeNano, dbzenc.TimeZoned} {
				out = append(out, dbzenc.EncodeOptions{Format: f, Decimal: d, Time: tm})
				if f.Flat() && tm == dbzenc.TimeMicro {
					out = append(out, dbzenc.EncodeOptions{Format: f, Decimal: d, Time: tm, FlatSequence: true})
				}
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
		name := opts.Shape()
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
			if placeholder := bytes.Contains(rec.Value, []byte(`"description":"`+dbzenc.DefaultUnavailablePlaceholder+`"`)); placeholder != (len(c.Src.Unavailable) > 0) {
				t.Fatalf("%s: record %d: placeholder %v, unavailable columns %v", name, i, placeholder, c.Src.Unavailable)
			}
		}
	}
}

// atPrecision drops the sub-millisecond digits of a row's times when the
// time mode cannot carry them.
func atPrecision(row any, tm dbzenc.TimeMode) any {
	if row == nil || tm != dbzenc.TimeMilli {
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

// wantPos is the position a consumer must decode from a change encoded
// with opts: source.sequence (__source_sequence) when the shape carries it,
// else the LSN and commit time; a read without a last commit is a snapshot
// row.
func wantPos(opts dbzenc.EncodeOptions, c *Change) debezium.Position {
	pos := debezium.Position{LSN: c.Src.LSN, TsMs: c.Src.TsMs}
	if c.Src.LSN != 0 && (!opts.Format.Flat() || opts.FlatSequence) {
		pos.Sequenced, pos.Commit = true, c.Src.LastCommitLSN
	}
	pos.Snapshot = c.Op == debezium.OpRead && pos.Commit == 0
	return pos
}

// TestEncodeDecodeRoundTrip decodes every encoded record of a generated log,
// in every shape, back into the rows and positions of its change, and
// checks that the decoded positions follow the commit order.
func TestEncodeDecodeRoundTrip(t *testing.T) {
	changes := New(Config{Seed: 17, Products: 8}).Generate(1500)
	toasted := 0
	for _, c := range changes {
		if len(c.Src.Unavailable) > 0 {
			toasted++
		}
	}
	if toasted == 0 {
		t.Fatal("test premise: no update left a TOASTed description alone")
	}
	dec := debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: 2})
	for _, opts := range allEncodeOptions() {
		name := opts.Shape()
		recs, err := Encode(changes, opts)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		flat := opts.Format.Flat()
		var prev debezium.Position
		misordered := 0
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
			if m.Kind != debezium.KindChange || m.Table != c.Table || m.Op != c.Op || m.ID != c.ID || m.Pos != wantPos(opts, c) {
				t.Fatalf("%s: record %d: decoded %v %s %c id=%d %v, want %s %c id=%d %v",
					name, i, m.Kind, m.Table, m.Op, m.ID, m.Pos, c.Table, c.Op, c.ID, wantPos(opts, c))
			}
			// Decoded in stream (commit) order, a sequenced position never
			// goes back; without a sequence it may only where the order is
			// ambiguous (two transactions in one millisecond).
			if i > 0 && prev.Compare(m.Pos) > 0 {
				if wantPos(opts, c).Sequenced || !prev.Ambiguous(m.Pos) {
					t.Fatalf("%s: record %d: position %v after %v", name, i, m.Pos, prev)
				}
				misordered++
			}
			prev = m.Pos
			wantBefore, wantAfter := atPrecision(c.Before, opts.Time), atPrecision(c.After, opts.Time)
			wantUnchanged := debezium.ColumnSet(0)
			if flat && c.Op == debezium.OpUpdate {
				wantBefore = nil // ExtractNewRecordState keeps only the new row
				if len(c.Src.Unavailable) > 0 {
					// Without the before image the placeholder means "the
					// previous value stands".
					p := *wantAfter.(*debezium.Product)
					p.Description = ""
					wantAfter, wantUnchanged = &p, debezium.ProductDescription
				}
			}
			if m.Unchanged != wantUnchanged {
				t.Fatalf("%s: record %d: unchanged columns %b, want %b", name, i, m.Unchanged, wantUnchanged)
			}
			gotBefore, gotAfter := images(m)
			if !reflect.DeepEqual(gotBefore, wantBefore) || !reflect.DeepEqual(gotAfter, wantAfter) {
				t.Fatalf("%s: record %d (%s %c id=%d):\n before %+v\n want   %+v\n after  %+v\n want   %+v",
					name, i, c.Table, c.Op, c.ID, gotBefore, wantBefore, gotAfter, wantAfter)
			}
		}
		if misordered > 0 {
			t.Logf("%s: %d records after a later position, all within one millisecond", name, misordered)
		}
	}
}
