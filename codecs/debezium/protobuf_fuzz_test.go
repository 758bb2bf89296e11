package debezium_test

import (
	"testing"

	"github.com/cdcflow/cdcflow/codecs/confluent"
	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/tools/dbzenc"
)

// FuzzDecodeProtobuf checks that DecodeProtobuf never panics whatever the
// key and value bytes under every schema the encoder registers (chosen by
// the id in the value's framing, mod the number of schemas, so mutations
// also pair data with the wrong schema; the message indexes select the
// message and may name none), that its errors are *DecodeErrors, and that
// a successful change carries the row its op requires.
func FuzzDecodeProtobuf(f *testing.F) {
	reg := newMemRegistry()
	corpus := avroCorpus(f, reg,
		[]dbzenc.Format{dbzenc.FormatProtobuf, dbzenc.FormatProtobufFlat},
		[]dbzenc.DecimalMode{dbzenc.DecimalPrecise, dbzenc.DecimalString, dbzenc.DecimalDouble},
		[]dbzenc.TimeMode{dbzenc.TimeMicro, dbzenc.TimeZoned})
	for _, r := range corpus {
		f.Add(string(r[0]), r[1], r[2])
	}
	f.Add("dbserver1.public.orders", []byte{0, 0, 0, 0, 1, 0}, []byte{0, 0, 0, 0, 2, 0})
	f.Add("dbserver1.public.products", []byte(`{"id":1}`), []byte{0, 0, 0, 0, 1, 2, 2, 0x12, 0x05, 0x22, 0x03, 0x0a, 0x01, 0xff})
	var schemas []*debezium.ProtobufSchema
	for id := int32(1); int(id) <= len(reg.texts); id++ {
		schemas = append(schemas, reg.protoSchemaOf(f, id))
	}
	d := debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: 2})
	f.Fuzz(func(t *testing.T, topic string, key, value []byte) {
		var ks *debezium.ProtobufSchema
		if id, kp, ok := confluent.Split(key); ok {
			idx, msg, err := confluent.SplitProtobuf(kp)
			if err != nil {
				return
			}
			if ks, err = schemas[int(uint32(id)%uint32(len(schemas)))].Select(idx); err != nil {
				return
			}
			key = msg
		}
		var vs *debezium.ProtobufSchema
		if id, payload, ok := confluent.Split(value); ok {
			idx, msg, err := confluent.SplitProtobuf(payload)
			if err != nil {
				return
			}
			if vs, err = schemas[int(uint32(id)%uint32(len(schemas)))].Select(idx); err != nil {
				return
			}
			value = msg
		}
		m, err := d.DecodeProtobuf(topic, key, ks, value, vs)
		checkDecoded(t, m, err)
	})
}

// FuzzParseProtobufSchema checks that no schema text makes
// ParseProtobufSchema panic, and that a schema it accepts decodes bytes
// without panicking.
func FuzzParseProtobufSchema(f *testing.F) {
	reg := newMemRegistry()
	avroCorpus(f, reg, []dbzenc.Format{dbzenc.FormatProtobuf, dbzenc.FormatProtobufFlat}, []dbzenc.DecimalMode{dbzenc.DecimalPrecise}, []dbzenc.TimeMode{dbzenc.TimeMicro})
	for _, text := range reg.texts {
		f.Add(text, []byte{0x0a, 0x02, 0x08, 0x01, 0x22, 0x01, 'c'})
	}
	f.Add(protoProducts, []byte{0x08, 0x01})
	f.Add(`syntax = "proto3"; message M { M m = 1; int32 id = 2; }`, []byte{0x0a, 0x02, 0x0a, 0x00})
	d := debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: 2})
	f.Fuzz(func(t *testing.T, text string, value []byte) {
		if len(text) > 4096 {
			return
		}
		s, err := debezium.ParseProtobufSchema(text)
		if err != nil {
			return
		}
		m, err := d.DecodeProtobuf("dbserver1.public.products", []byte(`{"id":1}`), nil, value, s)
		checkDecoded(t, m, err)
	})
}

// BenchmarkDecodeProtobuf decodes the equivalence changes as the
// ProtobufConverter writes them (envelope, confluent.type.Decimal,
// MicroTimestamp as int64), after the framing, the message indexes and the
// schema lookup, for comparison with BenchmarkDecodeAvro,
// BenchmarkDecodeJSONSchema and BenchmarkDecodeJSONSameChanges.
func BenchmarkDecodeProtobuf(b *testing.B) { benchProtobuf(b, dbzenc.FormatProtobuf) }

// BenchmarkDecodeProtobufFlat decodes the same changes flattened.
func BenchmarkDecodeProtobufFlat(b *testing.B) { benchProtobuf(b, dbzenc.FormatProtobufFlat) }

func benchProtobuf(b *testing.B, format dbzenc.Format) {
	reg := newMemRegistry()
	recs := avroCorpus(b, reg, []dbzenc.Format{format}, []dbzenc.DecimalMode{dbzenc.DecimalPrecise}, []dbzenc.TimeMode{dbzenc.TimeMicro})
	type rec struct {
		topic      string
		key, value []byte
		ks, vs     *debezium.ProtobufSchema
	}
	var in []rec
	var size int64
	for _, r := range recs {
		kid, kp, _ := confluent.Split(r[1])
		_, kmsg, _ := confluent.SplitProtobuf(kp)
		vid, vp, _ := confluent.Split(r[2])
		_, vmsg, _ := confluent.SplitProtobuf(vp)
		in = append(in, rec{string(r[0]), kmsg, vmsg, reg.protoSchemaOf(b, kid), reg.protoSchemaOf(b, vid)})
		size += int64(len(r[1]) + len(r[2]))
	}
	d := debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: 2})
	benchLoop(b, len(in), size, func(i int) error {
		r := &in[i]
		_, err := d.DecodeProtobuf(r.topic, r.key, r.ks, r.value, r.vs)
		return err
	})
}
