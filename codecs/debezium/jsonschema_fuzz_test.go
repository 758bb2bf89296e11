package debezium_test

import (
	"testing"

	"github.com/cdcflow/cdcflow/codecs/confluent"
	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/tools/dbzenc"
)

// FuzzDecodeJSONSchema checks that DecodeJSONSchema never panics whatever
// the key and value bytes under every JSON Schema the encoder registers
// (chosen by the id in the value's framing, mod the number of schemas),
// that its errors are *DecodeErrors and that a successful change carries
// the row its op requires.
func FuzzDecodeJSONSchema(f *testing.F) {
	reg := newMemRegistry()
	corpus := avroCorpus(f, reg,
		[]dbzenc.Format{dbzenc.FormatJSONSchema, dbzenc.FormatJSONSchemaFlat},
		[]dbzenc.DecimalMode{dbzenc.DecimalPrecise, dbzenc.DecimalNumeric, dbzenc.DecimalDouble},
		[]dbzenc.TimeMode{dbzenc.TimeMicro, dbzenc.TimeZoned})
	for _, r := range corpus {
		f.Add(string(r[0]), r[1], r[2])
	}
	f.Add("dbserver1.public.orders", []byte{0, 0, 0, 0, 1, '{', '}'}, []byte{0, 0, 0, 0, 2, 'n', 'u', 'l', 'l'})
	f.Add("dbserver1.public.products", []byte(`{"id":1}`), []byte{0, 0, 0, 0, 1, '{', '"', 'a', 'f', 't', 'e', 'r', '"', ':', '{', '"', 'p', 'r', 'i', 'c', 'e', '"', ':', '"', '/', '/', '/', '/', '"', '}', '}'})
	var schemas []*debezium.JSONSchema
	for id := int32(1); int(id) <= len(reg.texts); id++ {
		schemas = append(schemas, reg.jsonSchemaOf(f, id))
	}
	d := debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: 2})
	f.Fuzz(func(t *testing.T, topic string, key, value []byte) {
		if _, kp, ok := confluent.Split(key); ok {
			key = kp
		}
		var vs *debezium.JSONSchema
		if id, payload, ok := confluent.Split(value); ok {
			vs, value = schemas[int(uint32(id)%uint32(len(schemas)))], payload
		}
		m, err := d.DecodeJSONSchema(topic, key, nil, value, vs)
		checkDecoded(t, m, err)
	})
}

// FuzzParseJSONSchema checks that no schema text makes ParseJSONSchema
// panic, and that a schema it accepts decodes JSON without panicking.
func FuzzParseJSONSchema(f *testing.F) {
	reg := newMemRegistry()
	avroCorpus(f, reg, []dbzenc.Format{dbzenc.FormatJSONSchema, dbzenc.FormatJSONSchemaFlat}, []dbzenc.DecimalMode{dbzenc.DecimalPrecise}, []dbzenc.TimeMode{dbzenc.TimeMicro})
	for _, text := range reg.texts {
		f.Add(text, []byte(`{"op":"c","after":{"id":1,"name":"n","price":"AeJA","stock_quantity":1}}`))
	}
	f.Add(`{"oneOf":[{"type":"null"},{"anyOf":[{"type":"null"},{"type":["object","null"],"properties":{"price":{"type":"number","connect.type":"bytes"}}}]}]}`, []byte(`{"price":1.5,"__op":"u"}`))
	d := debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: 2})
	f.Fuzz(func(t *testing.T, text string, value []byte) {
		s, err := debezium.ParseJSONSchema(text)
		if err != nil {
			return
		}
		m, err := d.DecodeJSONSchema("dbserver1.public.products", []byte(`{"id":1}`), nil, value, s)
		checkDecoded(t, m, err)
	})
}

// BenchmarkDecodeJSONSchema decodes the equivalence changes as the
// JsonSchemaConverter writes them (envelope, base64 decimals,
// MicroTimestamp), after the framing and the schema lookup, for
// comparison with BenchmarkDecodeAvro and BenchmarkDecodeJSONSameChanges.
func BenchmarkDecodeJSONSchema(b *testing.B) { benchJSONSchema(b, dbzenc.FormatJSONSchema) }

// BenchmarkDecodeJSONSchemaFlat decodes the same changes flattened.
func BenchmarkDecodeJSONSchemaFlat(b *testing.B) { benchJSONSchema(b, dbzenc.FormatJSONSchemaFlat) }

func benchJSONSchema(b *testing.B, format dbzenc.Format) {
	reg := newMemRegistry()
	recs := avroCorpus(b, reg, []dbzenc.Format{format}, []dbzenc.DecimalMode{dbzenc.DecimalPrecise}, []dbzenc.TimeMode{dbzenc.TimeMicro})
	type rec struct {
		topic      string
		key, value []byte
		vs         *debezium.JSONSchema
	}
	var in []rec
	var size int64
	for _, r := range recs {
		_, kp, _ := confluent.Split(r[1])
		vid, vp, _ := confluent.Split(r[2])
		in = append(in, rec{string(r[0]), kp, vp, reg.jsonSchemaOf(b, vid)})
		size += int64(len(r[1]) + len(r[2]))
	}
	d := debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: 2})
	benchLoop(b, len(in), size, func(i int) error {
		r := &in[i]
		_, err := d.DecodeJSONSchema(r.topic, r.key, nil, r.value, r.vs)
		return err
	})
}
