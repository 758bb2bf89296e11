package pgshop

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
)

// avroTestCapture is a small capture with what the Avro rendering must
// get right: a snapshot, NULL columns, an unchanged TOAST value, a delete,
// a negative and a large decimal, a first streamed transaction without a
// last commit LSN.
func avroTestCapture() *Capture {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)
	ts := Value{N: t0.UnixMicro()}
	snap := &Tx{Snapshot: true, CommitTime: t0}
	p1 := Row{{N: 1}, {S: "Laptop"}, {S: "Crème \"brûlée\"\n\x01" + strings.Repeat("long ", 600)}, {N: 99999}, {N: 12}, ts, {Null: true}}
	p2 := Row{{N: 2}, {S: "Mouse"}, {Null: true}, {N: -5}, {N: 0}, ts, ts}
	snap.Changes = []*Change{
		{Table: Products, Op: OpRead, ID: 1, After: p1, LSN: 1000, ReceivedAt: t0, Tx: snap},
		{Table: Products, Op: OpRead, ID: 2, After: p2, LSN: 1000, ReceivedAt: t0, Tx: snap},
	}
	t1 := t0.Add(time.Second)
	tx1 := &Tx{Xid: 700, CommitTime: t1, EndLSN: 2100}
	p1b := append(Row{}, p1...)
	p1b[3], p1b[4] = Value{N: 9999999999}, Value{N: 11}
	o := Row{{N: 5}, {N: 42}, {N: 2490}, {S: "pending"}, ts, ts}
	it := Row{{N: 9}, {N: 5}, {Null: true}, {N: 3}, {N: 830}, {Null: true}}
	tx1.Changes = []*Change{
		{Table: Products, Op: OpUpdate, ID: 1, Before: p1, After: p1b, Unchanged: []int{2}, LSN: 2000, ReceivedAt: t1, Tx: tx1},
		{Table: Orders, Op: OpCreate, ID: 5, After: o, LSN: 2010, ReceivedAt: t1, Tx: tx1},
		{Table: OrderItems, Op: OpCreate, ID: 9, After: it, LSN: 2020, ReceivedAt: t1, Tx: tx1},
	}
	tx2 := &Tx{Xid: 701, CommitTime: t1.Add(time.Second), EndLSN: 2300, LastCommitLSN: 2100}
	tx2.Changes = []*Change{{Table: Products, Op: OpDelete, ID: 2, Before: p2, LSN: 2200, ReceivedAt: t1, Tx: tx2}}
	return &Capture{Snapshot: snap, Txs: []*Tx{tx1, tx2}}
}

// TestRenderAvroAsJSON reads every Avro record with hamba/avro (a decoder
// apart from the services' and from this package) against the schema it
// was framed with, and requires the same members as the schemaless JSON
// rendering of the change with NUMERIC decimals, values and all: the
// decimal as the scale's number, nulls, the placeholder.
func TestRenderAvroAsJSON(t *testing.T) {
	c := avroTestCapture()
	for _, opts := range []RenderOptions{
		{Format: FormatAvro},
		{Format: FormatAvro, ToastFromBefore: true},
		{Format: FormatAvroFlat, FlatLSN: true, FlatSequence: true},
		{Format: FormatAvroFlat},
	} {
		schemas := map[int32]avro.Schema{}
		bySubject := map[string]int32{}
		opts.Register = func(subject, text string) (int32, error) {
			s, err := avro.Parse(text)
			if err != nil {
				return 0, fmt.Errorf("%s: %w", subject, err)
			}
			id := int32(len(schemas) + 1)
			schemas[id], bySubject[subject] = s, id
			return id, nil
		}
		recs, err := RenderAvro(c, opts)
		if err != nil {
			t.Fatal(err)
		}
		jopts := opts
		jopts.Register, jopts.Decimal = nil, DecimalNumeric
		jopts.Format = map[Format]Format{FormatAvro: FormatEnvelopeNoSchema, FormatAvroFlat: FormatFlatNoSchema}[opts.Format]
		jrecs := Render(c, jopts)
		if len(recs) != len(jrecs) || len(recs) != 7 {
			t.Fatalf("%+v: %d Avro records, %d JSON", opts, len(recs), len(jrecs))
		}
		for i, r := range recs {
			key := decodeFramed(t, schemas, bySubject[r.Topic+"-key"], r.Key)
			if want := decodeJSON(t, jrecs[i].Key); !reflect.DeepEqual(key, want) {
				t.Fatalf("%+v record %d key %v, want %v", opts.Format, i, key, want)
			}
			if r.Value == nil {
				if jrecs[i].Value != nil {
					t.Fatalf("record %d: Avro tombstone, JSON %s", i, jrecs[i].Value)
				}
				continue
			}
			got := decodeFramed(t, schemas, bySubject[r.Topic+"-value"], r.Value)
			if want := decodeJSON(t, jrecs[i].Value); !reflect.DeepEqual(got, want) {
				gj, _ := json.Marshal(got)
				t.Fatalf("%v record %d (%s):\n avro %.1500s\n json %.1500s", opts.Format, i, r.Topic, gj, jrecs[i].Value)
			}
		}
	}
}

// decodeFramed checks the Confluent framing and decodes the datum with the
// schema registered under that id, decimals as their decimal text.
func decodeFramed(t *testing.T, schemas map[int32]avro.Schema, want int32, b []byte) any {
	t.Helper()
	if len(b) < 5 || b[0] != 0 || int32(binary.BigEndian.Uint32(b[1:5])) != want {
		t.Fatalf("framing %x, want schema id %d", b[:min(5, len(b))], want)
	}
	var v any
	if err := avro.Unmarshal(schemas[want], b[5:], &v); err != nil {
		t.Fatalf("hamba/avro: %v", err)
	}
	return normalize(v)
}

func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 1 {
			for k, e := range x {
				if strings.Contains(k, ".") { // a union's record branch, by its full name
					return normalize(e)
				}
			}
		}
		out := map[string]any{}
		for k, e := range x {
			out[k] = normalize(e)
		}
		return out
	case *big.Rat:
		return json.Number(x.FloatString(2))
	case int:
		return json.Number(fmt.Sprint(x))
	case int32:
		return json.Number(fmt.Sprint(x))
	case int64:
		return json.Number(fmt.Sprint(x))
	}
	return v
}

func decodeJSON(t *testing.T, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}
