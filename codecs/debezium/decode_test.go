package debezium

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// --- helpers ---------------------------------------------------------------

func decodeOK(t *testing.T, d *Decoder, topic string, key, value []byte) Message {
	t.Helper()
	m, err := d.Decode(topic, key, value)
	if err != nil {
		t.Fatalf("Decode(%s, %.80q): %v", topic, value, err)
	}
	return m
}

// decodeErr decodes and requires a *DecodeError on field.
func decodeErr(t *testing.T, d *Decoder, topic string, key, value []byte, field string) *DecodeError {
	t.Helper()
	m, err := d.Decode(topic, key, value)
	if err == nil {
		t.Fatalf("Decode(%.120q) = %+v, want error on %q", value, m, field)
	}
	var de *DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T) is not a *DecodeError", err, err)
	}
	if de.Field != field {
		t.Fatalf("error %q: Field = %q, want %q", err, de.Field, field)
	}
	if len(de.Got) > 40 {
		t.Fatalf("error %q: Got is %d bytes, want at most 40", err, len(de.Got))
	}
	if !reflect.DeepEqual(m, Message{}) {
		t.Fatalf("error %q returned a non-zero Message %+v", err, m)
	}
	return de
}

func assertMessage(t *testing.T, got, want Message) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("message mismatch\n got: %s\nwant: %s", dumpMessage(got), dumpMessage(want))
	}
}

func dumpMessage(m Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "{Kind:%d Table:%s Op:%q ID:%d Pos:%+v", m.Kind, m.Table, string(rune(m.Op)), m.ID, m.Pos)
	for _, r := range []struct {
		name string
		v    any
	}{
		{"BeforeProduct", m.BeforeProduct}, {"AfterProduct", m.AfterProduct},
		{"BeforeOrder", m.BeforeOrder}, {"AfterOrder", m.AfterOrder},
		{"BeforeItem", m.BeforeItem}, {"AfterItem", m.AfterItem},
	} {
		if !reflect.ValueOf(r.v).IsNil() {
			fmt.Fprintf(&b, " %s:%+v", r.name, reflect.ValueOf(r.v).Elem().Interface())
		}
	}
	return b.String() + "}"
}

// mutate decodes a JSON document, lets fn change it and re-encodes it.
func mutate(t *testing.T, raw []byte, fn func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	fn(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// at walks nested objects.
func at(m map[string]any, path ...string) map[string]any {
	for _, p := range path {
		m = m[p].(map[string]any)
	}
	return m
}

// unwrap strips the JsonConverter wrapper: {"schema":…,"payload":X} -> X.
func unwrap(t *testing.T, raw []byte) []byte {
	t.Helper()
	var w struct {
		Payload json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		t.Fatal(err)
	}
	if w.Payload == nil {
		t.Fatalf("no payload in %.60q", raw)
	}
	return w.Payload
}

// --- the shared samples ----------------------------------------------------

func TestDecodeEnvelopeSamples(t *testing.T) {
	d := NewDecoder(DecoderOptions{DefaultScale: 2})
	recs := loadSamples(t, "envelope.jsonl")
	if len(recs) != len(sampleChanges) {
		t.Fatalf("%d samples, %d expectations", len(recs), len(sampleChanges))
	}
	for i, r := range recs {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			c := sampleChanges[i]
			if r.Topic != c.topic {
				t.Fatalf("topic %q, want %q", r.Topic, c.topic)
			}
			assertMessage(t, decodeOK(t, d, r.Topic, r.Key, r.Value), expectMessage(c, c.lsn, true))
			// A second decode goes through the schema cache's fast path.
			assertMessage(t, decodeOK(t, d, r.Topic, r.Key, r.Value), expectMessage(c, c.lsn, true))
		})
	}
}

func TestDecodeFlatSamples(t *testing.T) {
	d := NewDecoder(DecoderOptions{DefaultScale: 2})
	recs := loadSamples(t, "flat.jsonl")
	if len(recs) != len(sampleChanges) {
		t.Fatalf("%d samples, %d expectations", len(recs), len(sampleChanges))
	}
	for i, r := range recs {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			c := sampleChanges[i]
			// The flat samples carry no LSN and no before image; the
			// delete (line 6) carries the old row with __deleted "true".
			assertMessage(t, decodeOK(t, d, r.Topic, r.Key, r.Value), expectMessage(c, 0, false))
		})
	}
}

// The same samples with schemas.enable=false on key and value.
func TestDecodeSamplesWithoutSchema(t *testing.T) {
	d := NewDecoder(DecoderOptions{DefaultScale: 2})
	for _, file := range []string{"envelope.jsonl", "flat.jsonl"} {
		for i, r := range loadSamples(t, file) {
			c := sampleChanges[i]
			key := unwrap(t, r.Key)
			value := r.Value
			if string(value) != "null" {
				value = unwrap(t, value)
			}
			want := expectMessage(c, c.lsn, true)
			if file == "flat.jsonl" {
				want = expectMessage(c, 0, false)
			}
			assertMessage(t, decodeOK(t, d, r.Topic, key, value), want)
		}
	}
}

func TestDecodeSampleDetails(t *testing.T) {
	d := NewDecoder(DecoderOptions{DefaultScale: 2})
	env := loadSamples(t, "envelope.jsonl")
	m := decodeOK(t, d, env[0].Topic, env[0].Key, env[0].Value)
	if m.AfterProduct == nil || m.AfterProduct.PriceCents != 189057 { // "AuKB" = 0x02E281
		t.Fatalf("first product: %s", dumpMessage(m))
	}
	if m.Pos != (Position{Sequenced: true, Commit: 16777237, LSN: 16777245, TsMs: 1736931600000}) {
		t.Fatalf("position %v", m.Pos)
	}
	flat := loadSamples(t, "flat.jsonl")
	m = decodeOK(t, d, flat[6].Topic, flat[6].Key, flat[6].Value)
	if m.Op != OpDelete || m.BeforeItem == nil || m.AfterItem != nil || m.BeforeItem.Quantity != 3 || m.ID != 122 {
		t.Fatalf("flat delete: %s", dumpMessage(m))
	}
}

// --- tombstones and truncates ----------------------------------------------

func TestDecodeTombstones(t *testing.T) {
	d := NewDecoder(DecoderOptions{DefaultScale: 2})
	sampleKey := loadSamples(t, "envelope.jsonl")[7].Key
	values := [][]byte{nil, {}, []byte("null"), []byte(" \n null\t"), []byte(`{"schema":null,"payload":null}`)}
	keys := []struct {
		key  []byte
		want int64
	}{
		{sampleKey, 122},
		{[]byte(`{"id":7}`), 7},
		{[]byte(`7`), 7},
		{[]byte(`{"payload":{"id":8}}`), 8},
		{nil, 0},
		{[]byte{}, 0},
		{[]byte(`garbage{`), 0},
		{[]byte(`{"id":"x"}`), 0},
		{[]byte(`{"id":7} trailing`), 0},
		{[]byte{0xff, 0x00, 0x7b}, 0},
	}
	for _, v := range values {
		for _, k := range keys {
			m := decodeOK(t, d, "dbserver1.public.order_items", k.key, v)
			want := Message{Kind: KindTombstone, Table: TableOrderItems, ID: k.want}
			if !reflect.DeepEqual(m, want) {
				t.Errorf("value %q key %q: got %s, want %s", v, k.key, dumpMessage(m), dumpMessage(want))
			}
		}
	}
	// Tombstones of other topics are never errors either.
	m := decodeOK(t, d, "weird", nil, nil)
	if m.Kind != KindTombstone || m.Table != "weird" {
		t.Fatalf("got %s", dumpMessage(m))
	}
}

func TestDecodeTruncate(t *testing.T) {
	d := NewDecoder(DecoderOptions{DefaultScale: 2})
	want := Message{Kind: KindTruncate, Table: TableOrders, Op: OpTruncate, Pos: Position{LSN: 5, TsMs: 9}}
	for _, v := range []string{
		`{"before":null,"after":null,"source":{"table":"orders","lsn":5,"ts_ms":9},"op":"t","ts_ms":12}`,
		`{"schema":{"type":"struct","fields":[]},"payload":{"source":{"table":"orders","lsn":5,"ts_ms":9},"op":"t"}}`,
		`{"__op":"t","__source_table":"orders","__source_ts_ms":9,"__source_lsn":5}`,
	} {
		assertMessage(t, decodeOK(t, d, "dbserver1.public.products", nil, []byte(v)), want)
	}
}

// --- decimals --------------------------------------------------------------

// flatItem renders a schemaless flattened order_items insert with price
// (raw JSON).
func flatItem(price string) []byte {
	return []byte(`{"id":1,"quantity":1,"price":` + price + `,"__op":"c","__source_table":"order_items"}`)
}

// flatItemWithSchema wraps it with a schema announcing price's type.
func flatItemWithSchema(priceSchema, price string) []byte {
	return []byte(`{"schema":{"type":"struct","fields":[{"type":"int32","field":"id"},` + priceSchema +
		`],"optional":false,"name":"x.Value"},"payload":` + string(flatItem(price)) + `}`)
}

func decimalSchema(scale string) string {
	return `{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"` + scale + `","connect.decimal.precision":"10"},"field":"price"}`
}

func TestDecodeDecimals(t *testing.T) {
	const topic = "dbserver1.public.order_items"
	cases := []struct {
		name  string
		value []byte
		want  int64
	}{
		// precise, schemaless: DefaultScale 2 (base64 literals computed
		// with Python's int.to_bytes(signed=True))
		{"zero", flatItem(`"AA=="`), 0},
		{"negative", flatItem(`"+y4="`), -1234},
		{"large", flatItem(`"AlQL4/8="`), 9999999999},
		{"minimal -128", flatItem(`"gA=="`), -128},
		{"sign-extended -128", flatItem(`"/4A="`), -128},
		{"unpadded", flatItem(`"MDk"`), 12345},
		// precise with a schema scale
		{"scale 2", flatItemWithSchema(decimalSchema("2"), `"MDk="`), 12345},
		{"scale 0", flatItemWithSchema(decimalSchema("0"), `"Dw=="`), 1500},
		{"scale 3 half up", flatItemWithSchema(decimalSchema("3"), `"MDk="`), 1235},
		{"scale 3 negative half away", flatItemWithSchema(decimalSchema("3"), `"z8c="`), -1235},
		{"scale 3 down", flatItemWithSchema(decimalSchema("3"), `"MDg="`), 1234},
		{"scale 4 half", flatItemWithSchema(decimalSchema("4"), `"AeI6"`), 1235},
		{"scale 4 down", flatItemWithSchema(decimalSchema("4"), `"AeI5"`), 1234},
		{"scale 20 wide value", flatItemWithSchema(decimalSchema("20"), `"Ap05Sl1jBUQAAA=="`), 12345},
		{"scale 3 max int64", flatItemWithSchema(decimalSchema("3"), `"BP/////////2"`), math.MaxInt64},
		{"variable scale", flatItem(`{"scale":3,"value":"MDk="}`), 1235},
		{"variable scale schema", flatItemWithSchema(`{"type":"struct","name":"io.debezium.data.VariableScaleDecimal","field":"price"}`, `{"value":"Dw==","scale":0}`), 1500},
		// string mode
		{"string", flatItem(`"12.34"`), 1234},
		{"string one digit", flatItem(`"12.3"`), 1230},
		{"string negative", flatItem(`"-0.50"`), -50},
		{"string signed integer", flatItem(`"-5"`), -500},
		{"string half", flatItem(`"0.005"`), 1},
		{"string negative half", flatItem(`"-0.005"`), -1},
		{"string below half", flatItem(`"0.004"`), 0},
		{"string scale digits", flatItem(`"1234.00"`), 123400},
		{"string schema", flatItemWithSchema(`{"type":"string","field":"price"}`, `"1234"`), 123400},
		// double mode: the number's text, never a float64
		{"double", flatItem(`12.34`), 1234},
		{"double noise", flatItem(`0.30000000000000004`), 30},
		{"double noise below", flatItem(`1929.6099999999999`), 192961},
		{"double exponent", flatItem(`1e2`), 10000},
		{"double java sci", flatItem(`1.2345678E7`), 1234567800},
		{"double negative exponent", flatItem(`125E-3`), 13},
		{"double negative half", flatItem(`-0.015`), -2},
		{"double integer", flatItem(`12`), 1200},
		{"double zero", flatItem(`0.0`), 0},
		{"double schema", flatItemWithSchema(`{"type":"double","field":"price"}`, `0.1`), 10},
		{"tiny", flatItem(`1e-300`), 0},
	}
	d := NewDecoder(DecoderOptions{DefaultScale: 2})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := decodeOK(t, d, topic, nil, c.value)
			if m.AfterItem == nil || m.AfterItem.PriceCents != c.want {
				t.Fatalf("got %s, want price %d", dumpMessage(m), c.want)
			}
		})
	}
}

func TestDecodeDefaultScale(t *testing.T) {
	d := NewDecoder(DecoderOptions{DefaultScale: 3})
	m := decodeOK(t, d, "t.order_items", nil, flatItem(`"MDk="`)) // 12.345
	if m.AfterItem.PriceCents != 1235 {
		t.Fatalf("got %d, want 1235", m.AfterItem.PriceCents)
	}
	// A schema's scale wins over the default.
	m = decodeOK(t, d, "t.order_items", nil, flatItemWithSchema(decimalSchema("2"), `"MDk="`))
	if m.AfterItem.PriceCents != 12345 {
		t.Fatalf("got %d, want 12345", m.AfterItem.PriceCents)
	}
}

func TestDecodeDecimalErrors(t *testing.T) {
	d := NewDecoder(DecoderOptions{DefaultScale: 2})
	cases := []struct {
		name, field string
		value       []byte
	}{
		{"overflow exponent", "price", flatItem(`1e30`)},
		{"overflow string", "price", flatItem(`"92233720368547758.08"`)},
		{"overflow base64", "price", flatItem(`"QAAAAAAAAAAA"`)},
		{"overflow scale 0", "payload.price", flatItemWithSchema(decimalSchema("0"), `"AIAAAAAAAAAA"`)},
		{"not base64", "price", flatItem(`"%%%%"`)},
		{"empty", "price", flatItem(`""`)},
		{"bad decimal text", "price", flatItem(`"1.2.3"`)},
		{"bool", "price", flatItem(`true`)},
		{"array", "price", flatItem(`[1]`)},
		{"decimal text where schema says bytes", "payload.price", flatItemWithSchema(decimalSchema("2"), `"12.34"`)},
		{"variable scale without value", "price", flatItem(`{"scale":2}`)},
		{"variable scale huge scale", "price", flatItem(`{"scale":99999999999,"value":"AA=="}`)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			decodeErr(t, d, "dbserver1.public.order_items", nil, c.value, c.field)
		})
	}
	// The bad schema parameter is reported on the schema.
	decodeErr(t, d, "dbserver1.public.order_items", nil, flatItemWithSchema(decimalSchema("two"), `"AA=="`), "schema")
}

// Money helpers, directly.
func TestDecimalTextToCents(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		err  numErr
	}{
		{"0", 0, numOK}, {"-0", 0, numOK}, {"+1.5", 150, numOK}, {".5", 50, numOK}, {"5.", 500, numOK},
		{"0.125", 13, numOK}, {"-0.125", -13, numOK}, {"0.124999", 12, numOK},
		{"92233720368547758.07", math.MaxInt64, numOK},
		{"-92233720368547758.08", math.MinInt64, numOK},
		{"92233720368547758.08", 0, numOverflow},
		{"1e17", 0, numOverflow}, {"1e16", 1e18, numOK},
		{"1E+2", 10000, numOK}, {"100e-2", 100, numOK},
		{"00000000000000000000000012.34", 1234, numOK},
		{"12.340000000000000000000000001", 1234, numOK},
		{"1e999999999999999", 0, numOverflow}, {"1e-999999999999999", 0, numOK},
		{"", 0, numSyntax}, {"-", 0, numSyntax}, {".", 0, numSyntax}, {"1e", 0, numSyntax},
		{"1x", 0, numSyntax}, {"--1", 0, numSyntax}, {" 1", 0, numSyntax},
	}
	for _, c := range cases {
		got, err := decimalTextToCents([]byte(c.in))
		if got != c.want || err != c.err {
			t.Errorf("decimalTextToCents(%q) = %d, %d; want %d, %d", c.in, got, err, c.want, c.err)
		}
	}
}

// --- timestamps ------------------------------------------------------------

const jan15 = 1736931600000000 // 2025-01-15T09:00:00Z in µs

func flatOrder(created string) []byte {
	return []byte(`{"id":1,"customer_id":2,"total_amount":"1.00","status":"new","created_at":` + created + `,"__op":"c","__source_table":"orders"}`)
}

func flatOrderWithSchema(timeSchema, created string) []byte {
	return []byte(`{"schema":{"type":"struct","fields":[` + timeSchema + `],"name":"x.Value"},"payload":` + string(flatOrder(created)) + `}`)
}

func timeSchema(typ, name string) string {
	return `{"type":"` + typ + `","optional":true,"name":"` + name + `","version":1,"field":"created_at"}`
}

func TestDecodeTimestamps(t *testing.T) {
	cases := []struct {
		name  string
		value []byte
		want  int64
	}{
		{"null", flatOrder(`null`), 0},
		{"schemaless ms", flatOrder(`1736931600000`), jan15},
		{"schemaless µs", flatOrder(`1736931600000123`), jan15 + 123},
		{"schemaless ns", flatOrder(`1736931600000123456`), jan15 + 123},
		{"schemaless negative ms", flatOrder(`-1000`), -1000000},
		{"zulu", flatOrder(`"2025-01-15T09:00:00Z"`), jan15},
		{"fraction", flatOrder(`"2025-01-15T09:00:00.123456Z"`), jan15 + 123456},
		{"short fraction", flatOrder(`"2025-01-15T09:00:00.12Z"`), jan15 + 120000},
		{"nano fraction truncated", flatOrder(`"2025-01-15T09:00:00.123456789Z"`), jan15 + 123456},
		{"offset", flatOrder(`"2025-01-15T10:00:00.123456+01:00"`), jan15 + 123456},
		{"negative offset compact", flatOrder(`"2025-01-15T04:30:00-0430"`), jan15},
		{"no zone is UTC", flatOrder(`"2025-01-15T09:00:00"`), jan15},
		{"space separator", flatOrder(`"2025-01-15 09:00:00"`), jan15},
		{"leap day", flatOrder(`"2024-02-29T00:00:00Z"`), 1709164800000000},
		{"before epoch", flatOrder(`"1969-12-31T23:59:59.5Z"`), -500000},
		{"micro schema wins over magnitude", flatOrderWithSchema(timeSchema("int64", "io.debezium.time.MicroTimestamp"), `1736931600000`), 1736931600000},
		{"milli schema", flatOrderWithSchema(timeSchema("int64", "io.debezium.time.Timestamp"), `1736931600000`), jan15},
		{"connect timestamp", flatOrderWithSchema(timeSchema("int64", "org.apache.kafka.connect.data.Timestamp"), `1736931600001`), jan15 + 1000},
		{"nano schema", flatOrderWithSchema(timeSchema("int64", "io.debezium.time.NanoTimestamp"), `1736931600000123999`), jan15 + 123},
		{"zoned schema", flatOrderWithSchema(timeSchema("string", "io.debezium.time.ZonedTimestamp"), `"2025-01-15T09:00:00.5Z"`), jan15 + 500000},
	}
	d := NewDecoder(DecoderOptions{DefaultScale: 2})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := decodeOK(t, d, "dbserver1.public.orders", nil, c.value)
			if m.AfterOrder == nil || m.AfterOrder.CreatedAt != c.want {
				t.Fatalf("got %s, want created_at %d", dumpMessage(m), c.want)
			}
		})
	}
}

func TestDecodeTimestampErrors(t *testing.T) {
	d := NewDecoder(DecoderOptions{DefaultScale: 2})
	for _, c := range []struct {
		name, field string
		value       []byte
	}{
		{"words", "created_at", flatOrder(`"yesterday"`)},
		{"bad date", "created_at", flatOrder(`"2025-02-30T00:00:00Z"`)},
		{"bad hour", "created_at", flatOrder(`"2025-01-15T24:00:00Z"`)},
		{"trailing", "created_at", flatOrder(`"2025-01-15T09:00:00Zx"`)},
		{"fraction", "created_at", flatOrder(`1.5`)},
		{"bool", "created_at", flatOrder(`false`)},
		{"ms overflow", "payload.created_at", flatOrderWithSchema(timeSchema("int64", "io.debezium.time.Timestamp"), `9223372036854776`)},
		{"number for zoned", "payload.created_at", flatOrderWithSchema(timeSchema("string", "io.debezium.time.ZonedTimestamp"), `1736931600000`)},
		{"string for micro", "payload.created_at", flatOrderWithSchema(timeSchema("int64", "io.debezium.time.MicroTimestamp"), `"2025-01-15T09:00:00Z"`)},
	} {
		t.Run(c.name, func(t *testing.T) {
			decodeErr(t, d, "dbserver1.public.orders", nil, c.value, c.field)
		})
	}
}

// --- errors ----------------------------------------------------------------

func TestDecodeErrors(t *testing.T) {
	env := loadSamples(t, "envelope.jsonl")
	flat := loadSamples(t, "flat.jsonl")
	product, item, flatProduct := env[0], env[2], flat[0]
	cases := []struct {
		name, topic string
		key, value  []byte
		field       string
		expected    string // substring of Expected, or of Reason when Expected is empty
	}{
		{"not JSON", product.Topic, nil, []byte("hello"), "", "value is not JSON"},
		{"truncated", product.Topic, product.Key, product.Value[:len(product.Value)/2], "", "value is not JSON"},
		{"binary garbage", product.Topic, nil, []byte{0xff, 0xfe, 0x00, 0x01, '{'}, "", "value is not JSON"},
		{"garbage inside", product.Topic, nil, []byte("{\"payload\":\x00}"), "", "value is not JSON"},
		{"trailing data", product.Topic, product.Key, append(append([]byte{}, product.Value...), " x"...), "", "value is not JSON"},
		{"two documents", product.Topic, nil, []byte(`{} {}`), "", "value is not JSON"},
		{"bad escape", product.Topic, nil, []byte(`{"a":"\q"}`), "", "value is not JSON"},
		{"control character", product.Topic, nil, []byte("{\"a\":\"x\ny\"}"), "", "value is not JSON"},
		{"not an object", product.Topic, nil, []byte(`[1,2]`), "", "not a JSON object"},
		{"price as bool", product.Topic, product.Key, mutate(t, product.Value, func(m map[string]any) {
			at(m, "payload", "after")["price"] = true
		}), "payload.after.price", "base64"},
		{"quantity as string", item.Topic, item.Key, mutate(t, item.Value, func(m map[string]any) {
			at(m, "payload", "after")["quantity"] = "abc"
		}), "payload.after.quantity", "integer"},
		{"name as number", product.Topic, product.Key, mutate(t, product.Value, func(m map[string]any) {
			at(m, "payload", "after")["name"] = 5
		}), "payload.after.name", "string"},
		{"quantity overflow", item.Topic, item.Key, mutate(t, item.Value, func(m map[string]any) {
			at(m, "payload", "after")["quantity"] = json.Number("99999999999999999999")
		}), "payload.after.quantity", "integer"},
		{"missing required column", product.Topic, product.Key, mutate(t, product.Value, func(m map[string]any) {
			delete(at(m, "payload", "after"), "name")
		}), "payload.after.name", "missing"},
		{"null required column", product.Topic, product.Key, mutate(t, product.Value, func(m map[string]any) {
			at(m, "payload", "after")["price"] = nil
		}), "payload.after.price", "null"},
		{"missing after", product.Topic, product.Key, mutate(t, product.Value, func(m map[string]any) {
			at(m, "payload")["after"] = nil
		}), "payload.after", "missing or null"},
		{"after not an object", product.Topic, product.Key, mutate(t, product.Value, func(m map[string]any) {
			at(m, "payload")["after"] = "x"
		}), "payload.after", "row object"},
		{"unknown op", product.Topic, product.Key, mutate(t, product.Value, func(m map[string]any) {
			at(m, "payload")["op"] = "x"
		}), "payload.op", `"r"`},
		{"op not a string", product.Topic, product.Key, mutate(t, product.Value, func(m map[string]any) {
			at(m, "payload")["op"] = 1
		}), "payload.op", `"r"`},
		{"missing op", product.Topic, product.Key, mutate(t, product.Value, func(m map[string]any) {
			delete(at(m, "payload"), "op")
		}), "payload.op", "missing"},
		{"unknown table", product.Topic, product.Key, mutate(t, product.Value, func(m map[string]any) {
			at(m, "payload", "source")["table"] = "customers"
		}), "payload.source.table", "products, orders or order_items"},
		{"unknown table from topic", "dbserver1.public.customers", nil, []byte(`{"id":1,"__op":"c"}`), "topic", "unknown table"},
		{"lsn as string", product.Topic, product.Key, mutate(t, product.Value, func(m map[string]any) {
			at(m, "payload", "source")["lsn"] = "16777245"
		}), "payload.source.lsn", "integer"},
		{"negative lsn", product.Topic, product.Key, mutate(t, product.Value, func(m map[string]any) {
			at(m, "payload", "source")["lsn"] = -1
		}), "payload.source.lsn", "integer"},
		{"source not an object", product.Topic, product.Key, mutate(t, product.Value, func(m map[string]any) {
			at(m, "payload")["source"] = 3
		}), "payload.source", "object"},
		{"payload not an object", product.Topic, product.Key, []byte(`{"schema":null,"payload":[1]}`), "payload", "object"},
		{"schema not an object", product.Topic, product.Key, []byte(`{"schema":5,"payload":{}}`), "schema", "schema"},
		{"schema unusable", product.Topic, product.Key, []byte(`{"schema":{"fields":"x"},"payload":{"op":"c"}}`), "schema", "unusable"},
		{"flat price as bool", flatProduct.Topic, flatProduct.Key, mutate(t, flatProduct.Value, func(m map[string]any) {
			at(m, "payload")["price"] = false
		}), "payload.price", "base64"},
		{"flat unknown op", flatProduct.Topic, flatProduct.Key, mutate(t, flatProduct.Value, func(m map[string]any) {
			at(m, "payload")["__op"] = "upsert"
		}), "payload.__op", `"r"`},
		{"flat missing column", flatProduct.Topic, flatProduct.Key, mutate(t, flatProduct.Value, func(m map[string]any) {
			delete(at(m, "payload"), "stock_quantity")
		}), "payload.stock_quantity", "missing"},
		{"flat deleted flag type", flatProduct.Topic, flatProduct.Key, mutate(t, flatProduct.Value, func(m map[string]any) {
			at(m, "payload")["__deleted"] = 1
		}), "payload.__deleted", "true"},
		{"no id anywhere", "dbserver1.public.orders", nil, []byte(`{"__op":"d","__deleted":"true","__source_table":"orders"}`), "key", "no entity id"},
	}
	d := NewDecoder(DecoderOptions{DefaultScale: 2})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			de := decodeErr(t, d, c.topic, c.key, c.value, c.field)
			text := de.Expected
			if text == "" {
				text = de.Reason
			}
			if !strings.Contains(text, c.expected) {
				t.Fatalf("error %q: want %q in %q", de, c.expected, text)
			}
			if de.Error() == "" {
				t.Fatal("empty error text")
			}
		})
	}
}

// Every prefix of a valid message is either a tombstone (blank) or an
// error, never a panic or a bogus success.
func TestDecodeEveryTruncation(t *testing.T) {
	d := NewDecoder(DecoderOptions{DefaultScale: 2})
	var values [][]byte
	for _, file := range []string{"envelope.jsonl", "flat.jsonl"} {
		for _, r := range loadSamples(t, file) {
			if string(r.Value) != "null" {
				values = append(values, r.Value)
			}
		}
	}
	// A schemaless envelope with NULLs and a sequence without a last commit.
	values = append(values, []byte(`{"before":{"id":1,"name":"a","description":null,"price":"AA==","stock_quantity":0,"created_at":null,"updated_at":null},`+
		`"after":{"id":1,"name":"b","description":null,"price":"AA==","stock_quantity":0,"created_at":null,"updated_at":null},`+
		`"source":{"version":"2.7.3.Final","connector":"postgresql","name":"dbserver1","ts_ms":0,"snapshot":"false","db":"ecommerce","sequence":"[null,\"1\"]","schema":"public","table":"products","txId":null,"lsn":1,"xmin":null},`+
		`"op":"u","ts_ms":0,"transaction":null}`))
	for _, v := range values {
		if _, err := d.Decode("dbserver1.public.products", nil, v); err != nil {
			t.Fatalf("full message fails: %v", err)
		}
		for n := 1; n < len(v); n++ {
			if _, err := d.Decode("dbserver1.public.products", nil, v[:n]); err == nil {
				t.Fatalf("prefix of %d bytes decoded without error: %q", n, v[:n])
			}
		}
	}
}

// --- partial rows, ids, flat ops, positions ---------------------------------

func TestDecodePartialDeleteBefore(t *testing.T) {
	d := NewDecoder(DecoderOptions{DefaultScale: 2})
	// REPLICA IDENTITY DEFAULT: only the key column in before.
	m := decodeOK(t, d, "dbserver1.public.order_items", []byte(`{"id":5}`),
		[]byte(`{"before":{"id":5,"order_id":null,"product_id":null,"quantity":0,"price":"AA==","created_at":null},"after":null,"source":{"table":"order_items","lsn":10,"ts_ms":20},"op":"d","ts_ms":21}`))
	assertMessage(t, m, Message{Kind: KindChange, Table: TableOrderItems, Op: OpDelete, ID: 5, Pos: Position{LSN: 10, TsMs: 20}, BeforeItem: &OrderItem{ID: 5}})
	m = decodeOK(t, d, "dbserver1.public.products", nil, []byte(`{"before":{"id":6},"after":null,"source":{"table":"products"},"op":"d"}`))
	assertMessage(t, m, Message{Kind: KindChange, Table: TableProducts, Op: OpDelete, ID: 6, BeforeProduct: &Product{ID: 6}})
	// No before at all: the id comes from the key.
	m = decodeOK(t, d, "dbserver1.public.orders", []byte(`{"id":9}`), []byte(`{"before":null,"after":null,"source":{"table":"orders","ts_ms":3},"op":"d","ts_ms":4}`))
	assertMessage(t, m, Message{Kind: KindChange, Table: TableOrders, Op: OpDelete, ID: 9, Pos: Position{TsMs: 3}, BeforeOrder: &Order{ID: 9}})
}

func TestDecodeIDFallback(t *testing.T) {
	d := NewDecoder(DecoderOptions{DefaultScale: 2})
	value := []byte(`{"after":{"id":42,"customer_id":1,"total_amount":"AA==","status":"x"},"op":"c","source":{"table":"orders"}}`)
	for _, key := range [][]byte{nil, []byte(""), []byte("{garbage"), []byte(`{"schema":{},"payload":null}`), []byte(`{"id":null}`)} {
		if m := decodeOK(t, d, "x.orders", key, value); m.ID != 42 {
			t.Errorf("key %q: id %d, want 42 (from the row)", key, m.ID)
		}
	}
	// The key wins over the row.
	if m := decodeOK(t, d, "x.orders", []byte(`{"id":7}`), value); m.ID != 7 {
		t.Errorf("id %d, want 7 (from the key)", m.ID)
	}
	// Delete without key: from before.
	m := decodeOK(t, d, "x.orders", nil, []byte(`{"before":{"id":43},"op":"d","source":{"table":"orders"}}`))
	if m.ID != 43 || m.BeforeOrder.ID != 43 {
		t.Errorf("got %s", dumpMessage(m))
	}
}

func TestDecodeFlatOpInference(t *testing.T) {
	d := NewDecoder(DecoderOptions{DefaultScale: 2})
	row := `"id":3,"name":"n","price":"1.00","stock_quantity":4`
	m := decodeOK(t, d, "x.products", nil, []byte(`{`+row+`,"__deleted":"true"}`))
	assertMessage(t, m, Message{Kind: KindChange, Table: TableProducts, Op: OpDelete, ID: 3, BeforeProduct: &Product{ID: 3, Name: "n", PriceCents: 100, StockQuantity: 4}})
	m = decodeOK(t, d, "x.products", nil, []byte(`{`+row+`,"__deleted":"false"}`))
	assertMessage(t, m, Message{Kind: KindChange, Table: TableProducts, Op: OpUpdate, ID: 3, AfterProduct: &Product{ID: 3, Name: "n", PriceCents: 100, StockQuantity: 4}})
	m = decodeOK(t, d, "x.products", nil, []byte(`{`+row+`}`))
	if m.Op != OpUpdate || m.AfterProduct == nil {
		t.Fatalf("got %s", dumpMessage(m))
	}
	// __deleted "true" means the columns are the old row, whatever __op says.
	m = decodeOK(t, d, "x.products", nil, []byte(`{`+row+`,"__op":"u","__deleted":"true"}`))
	if m.Op != OpDelete || m.BeforeProduct == nil || m.AfterProduct != nil {
		t.Fatalf("got %s", dumpMessage(m))
	}
}

func TestDecodePositions(t *testing.T) {
	d := NewDecoder(DecoderOptions{DefaultScale: 2})
	row := `"id":3,"name":"n","price":"1.00","stock_quantity":4`
	for _, c := range []struct {
		value string
		want  Position
	}{
		{`{` + row + `,"__lsn":77,"__source_ts_ms":5}`, Position{LSN: 77, TsMs: 5}},
		{`{` + row + `,"__source_lsn":78,"__source_ts_ms":5}`, Position{LSN: 78, TsMs: 5}},
		{`{` + row + `,"__source_lsn":null}`, Position{}},
		{`{"after":{` + row + `},"op":"c","source":{"lsn":null,"ts_ms":null},"ts_ms":9}`, Position{TsMs: 9}},
		{`{"after":{` + row + `},"op":"c","source":{"lsn":18446744073709551615},"ts_ms":9}`, Position{LSN: math.MaxUint64, TsMs: 9}},
		{`{"after":{` + row + `},"op":"c","source":{"ts_ms":8},"ts_ms":9}`, Position{TsMs: 8}},
	} {
		m := decodeOK(t, d, "x.products", nil, []byte(c.value))
		if m.Pos != c.want {
			t.Errorf("%s: position %+v, want %+v", c.value, m.Pos, c.want)
		}
	}
}

func TestDecodeStringsAndUnknownColumns(t *testing.T) {
	d := NewDecoder(DecoderOptions{DefaultScale: 2})
	v := `{"after":{"id":1,"name":"Caf\u00e9 \"Deluxe\" \ud83d\ude00 \\ \/","description":"lone \udc00 x","price":"AA==","stock_quantity":0,` +
		`"color":"red","nested":{"a":[1,{"b":null}]},"name_extra":true},"op":"c","source":{"table":"products","extra":[1]},"transaction":{"id":"1"},"extra":1}`
	m := decodeOK(t, d, "x.products", nil, []byte(v))
	if m.AfterProduct.Name != "Café \"Deluxe\" 😀 \\ /" || m.AfterProduct.Description != "lone \uFFFD x" {
		t.Fatalf("got %q / %q", m.AfterProduct.Name, m.AfterProduct.Description)
	}
	// Escaped keys are understood too.
	m = decodeOK(t, d, "x.products", nil, []byte(`{"\u0061fter":{"id":1,"n\u0061me":"x","price":"AA==","stock_quantity":0},"op":"\u0063"}`))
	if m.Op != OpCreate || m.AfterProduct.Name != "x" {
		t.Fatalf("got %s", dumpMessage(m))
	}
}

// --- schema cache ----------------------------------------------------------

// Two schemas differing only in the price scale, alternating on one topic:
// the per-topic fast path must tell them apart.
func TestSchemaCacheDistinguishesSchemas(t *testing.T) {
	d := NewDecoder(DecoderOptions{DefaultScale: 2})
	s2 := flatItemWithSchema(decimalSchema("2"), `"MDk="`)
	s3 := flatItemWithSchema(decimalSchema("3"), `"MDk="`)
	for i := 0; i < 10; i++ {
		if m := decodeOK(t, d, "t.order_items", nil, s2); m.AfterItem.PriceCents != 12345 {
			t.Fatalf("round %d scale 2: %d", i, m.AfterItem.PriceCents)
		}
		if m := decodeOK(t, d, "t.order_items", nil, s3); m.AfterItem.PriceCents != 1235 {
			t.Fatalf("round %d scale 3: %d", i, m.AfterItem.PriceCents)
		}
	}
}

func TestSchemaCacheBounded(t *testing.T) {
	d := NewDecoder(DecoderOptions{DefaultScale: 2})
	for i := 0; i < schemaCacheLimit*2+10; i++ {
		v := flatItemWithSchema(`{"type":"bytes","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"2","n":"`+fmt.Sprint(i)+`"},"field":"price"}`, `"MDk="`)
		if m := decodeOK(t, d, fmt.Sprintf("t%d.order_items", i), nil, v); m.AfterItem.PriceCents != 12345 {
			t.Fatalf("schema %d: %d", i, m.AfterItem.PriceCents)
		}
		snap := d.cache.snap.Load()
		if snap.n > schemaCacheLimit || len(snap.byTopic) > schemaCacheLimit {
			t.Fatalf("cache grew to %d schemas, %d topics", snap.n, len(snap.byTopic))
		}
	}
}

func TestDecoderConcurrent(t *testing.T) {
	d := NewDecoder(DecoderOptions{DefaultScale: 2})
	env := loadSamples(t, "envelope.jsonl")
	flat := loadSamples(t, "flat.jsonl")
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; round < 50; round++ {
				for i := range env {
					c := sampleChanges[i]
					m, err := d.Decode(env[i].Topic, env[i].Key, env[i].Value)
					if err != nil || !reflect.DeepEqual(m, expectMessage(c, c.lsn, true)) {
						errs <- fmt.Sprintf("envelope %d: %v %s", i, err, dumpMessage(m))
						return
					}
					m, err = d.Decode(flat[i].Topic, flat[i].Key, flat[i].Value)
					if err != nil || !reflect.DeepEqual(m, expectMessage(c, 0, false)) {
						errs <- fmt.Sprintf("flat %d: %v %s", i, err, dumpMessage(m))
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// Key schemas are cached per topic too; a cached schema followed by a
// broken key must still fall back to the row's id.
func TestKeySchemaCache(t *testing.T) {
	d := NewDecoder(DecoderOptions{DefaultScale: 2})
	value := []byte(`{"id":42,"customer_id":1,"total_amount":"AA==","status":"x","__op":"c"}`)
	k1 := []byte(`{"schema":{"type":"struct","name":"k1"},"payload":{"id":1}}`)
	k2 := []byte(`{"schema":{"type":"struct","name":"k12"},"payload":{"id":2}}`)
	for i := 0; i < 5; i++ {
		if m := decodeOK(t, d, "x.orders", k1, value); m.ID != 1 {
			t.Fatalf("k1: id %d", m.ID)
		}
		if m := decodeOK(t, d, "x.orders", k2, value); m.ID != 2 {
			t.Fatalf("k2: id %d", m.ID)
		}
	}
	for _, broken := range [][]byte{
		[]byte(`{"schema":{"type":"struct","name":"k1"}`),
		[]byte(`{"schema":{"type":"struct","name":"k1"},"payload":{"id":1}`),
		[]byte(`{"schema":{"type":"struct","name":"k1"}},"payload":{"id":1}}`),
	} {
		if m := decodeOK(t, d, "x.orders", broken, value); m.ID != 42 {
			t.Fatalf("broken key %q: id %d, want 42 from the row", broken, m.ID)
		}
	}
}
