package debezium_test

import (
	"testing"

	"github.com/cdcflow/cdcflow/codecs/confluent"
	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/tools/dbzenc"
)

// avroCorpus renders the equivalence changes in every Avro shape and mode
// through one registry: the fuzz corpus and the benchmark input.
func avroCorpus(tb testing.TB, reg *memRegistry, formats []dbzenc.Format, decs []dbzenc.DecimalMode, times []dbzenc.TimeMode) [][3][]byte {
	tb.Helper()
	var out [][3][]byte
	for _, format := range formats {
		for _, dec := range decs {
			for _, tm := range times {
				opts := dbzenc.EncodeOptions{Format: format, Decimal: dec, Time: tm, FlatSequence: tm == dbzenc.TimeMicro, Register: reg.Register}
				for _, c := range equivalenceChanges() {
					topic, key, value, err := dbzenc.Encode(opts, c.table, c.op, c.id, c.before, c.after, c.src)
					if err != nil {
						tb.Fatal(err)
					}
					out = append(out, [3][]byte{[]byte(topic), key, value})
				}
			}
		}
	}
	return out
}

// FuzzDecodeAvro checks that DecodeAvro never panics whatever the key and
// value bytes under every schema the encoder registers, that its errors are
// *DecodeErrors, and that a successful change carries the row its op
// requires. The schema is chosen by the registry id in the value's framing
// (mod the number of schemas), so mutations also pair data with the wrong
// schema.
func FuzzDecodeAvro(f *testing.F) {
	reg := newMemRegistry()
	corpus := avroCorpus(f, reg,
		[]dbzenc.Format{dbzenc.FormatAvro, dbzenc.FormatAvroFlat},
		[]dbzenc.DecimalMode{dbzenc.DecimalPrecise, dbzenc.DecimalString, dbzenc.DecimalDouble},
		[]dbzenc.TimeMode{dbzenc.TimeMicro, dbzenc.TimeZoned})
	for _, r := range corpus {
		f.Add(string(r[0]), r[1], r[2])
	}
	f.Add("dbserver1.public.orders", []byte{0, 0, 0, 0, 1, 2}, []byte{0, 0, 0, 0, 2})
	var schemas []*debezium.AvroSchema
	for id := int32(1); int(id) <= len(reg.texts); id++ {
		schemas = append(schemas, reg.schema(f, id))
	}
	d := debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: 2})
	pick := func(b []byte) (*debezium.AvroSchema, []byte) {
		id, payload, ok := confluent.Split(b)
		if !ok {
			return nil, b
		}
		return schemas[int(uint32(id)%uint32(len(schemas)))], payload
	}
	f.Fuzz(func(t *testing.T, topic string, key, value []byte) {
		ks, kp := pick(key)
		vs, vp := pick(value)
		m, err := d.DecodeAvro(topic, kp, ks, vp, vs)
		checkDecoded(t, m, err)
	})
}

// benchAvro decodes records of the corpus, one goroutine.
func benchAvro(b *testing.B, format dbzenc.Format) {
	reg := newMemRegistry()
	recs := avroCorpus(b, reg, []dbzenc.Format{format}, []dbzenc.DecimalMode{dbzenc.DecimalPrecise}, []dbzenc.TimeMode{dbzenc.TimeMicro})
	type rec struct {
		topic      string
		key, value []byte
		ks, vs     *debezium.AvroSchema
	}
	var in []rec
	var size int64
	for _, r := range recs {
		kid, kp, _ := confluent.Split(r[1])
		vid, vp, _ := confluent.Split(r[2])
		in = append(in, rec{string(r[0]), kp, vp, reg.schema(b, kid), reg.schema(b, vid)})
		size += int64(len(r[1]) + len(r[2]))
	}
	d := debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: 2})
	benchLoop(b, len(in), size, func(i int) error {
		r := &in[i]
		_, err := d.DecodeAvro(r.topic, r.key, r.ks, r.value, r.vs)
		return err
	})
}

// benchLoop runs decode over n records of size bytes in all, one goroutine,
// reporting bytes, allocations and messages per second.
func benchLoop(b *testing.B, n int, size int64, decode func(i int) error) {
	b.SetBytes(size / int64(n))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := decode(i % n); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkDecodeAvro decodes Avro change envelopes (precise decimals,
// MicroTimestamp) of the equivalence changes, after the framing and the
// schema lookup (a consumer caches parsed schemas by id).
func BenchmarkDecodeAvro(b *testing.B) { benchAvro(b, dbzenc.FormatAvro) }

// BenchmarkDecodeAvroFlat decodes the same changes flattened.
func BenchmarkDecodeAvroFlat(b *testing.B) { benchAvro(b, dbzenc.FormatAvroFlat) }

// BenchmarkDecodeJSONSameChanges decodes the same changes as JSON envelopes
// with the schema wrapper, for comparison with BenchmarkDecodeAvro.
func BenchmarkDecodeJSONSameChanges(b *testing.B) {
	var in [][3][]byte
	var size int64
	for _, c := range equivalenceChanges() {
		topic, key, value, err := dbzenc.Encode(dbzenc.EncodeOptions{}, c.table, c.op, c.id, c.before, c.after, c.src)
		if err != nil {
			b.Fatal(err)
		}
		in = append(in, [3][]byte{[]byte(topic), key, value})
		size += int64(len(key) + len(value))
	}
	d := debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: 2})
	benchLoop(b, len(in), size, func(i int) error {
		_, err := d.Decode(string(in[i][0]), in[i][1], in[i][2])
		return err
	})
}

// FuzzParseAvroSchema checks that no schema text makes ParseAvroSchema
// panic, and that a schema it accepts decodes arbitrary bytes without
// panicking (recursive schemas, empty records, nested containers).
func FuzzParseAvroSchema(f *testing.F) {
	reg := newMemRegistry()
	avroCorpus(f, reg, []dbzenc.Format{dbzenc.FormatAvro, dbzenc.FormatAvroFlat}, []dbzenc.DecimalMode{dbzenc.DecimalPrecise}, []dbzenc.TimeMode{dbzenc.TimeMicro})
	for _, text := range reg.texts {
		f.Add(text, []byte{0, 2, 14})
	}
	f.Add(`{"type":"record","name":"R","fields":[{"name":"next","type":["null","R"]},{"name":"m","type":{"type":"map","values":{"type":"array","items":"null"}}}]}`, []byte{2, 2, 2, 0, 1, 4, 0})
	d := debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: 2})
	f.Fuzz(func(t *testing.T, text string, value []byte) {
		s, err := debezium.ParseAvroSchema(text)
		if err != nil {
			return
		}
		m, err := d.DecodeAvro("dbserver1.public.products", value, s, value, s)
		checkDecoded(t, m, err)
	})
}
