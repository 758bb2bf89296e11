package dbzenc

// The Avro formats: what a Debezium PostgreSQL connector writes through
// Confluent's io.confluent.connect.avro.AvroConverter. The schemas are
// written here from the Connect schemas the JSON formats print (appendEnvelopeSchema,
// appendFlatSchema, sourceSchema) by the rules of Confluent's AvroData.fromConnectSchema:
//
//   - a Connect struct named a.b.C is an Avro record named C in namespace
//     a.b, with "connect.name":"a.b.C" (and "connect.version" when set);
//   - an optional field is a union with null, null first and "default":null,
//     except when the Connect schema has a non-null default (source.snapshot,
//     default "false"): then [T, "null"] with that default;
//   - a named Connect type keeps its name in "connect.name", its version in
//     "connect.version", its parameters (strings) in "connect.parameters"
//     and its default in "connect.default";
//   - org.apache.kafka.connect.data.Decimal is bytes with "scale",
//     "precision" (connect.decimal.precision) and "logicalType":"decimal";
//     Debezium's io.debezium.time.* types are long or string with only their
//     connect.name.
//
// The datum is Avro binary (zigzag varints, length-prefixed strings and
// bytes, little-endian doubles, union branch index first), framed in the
// Confluent wire format: byte 0, the 4-byte big-endian schema id, the datum.
// decimal.format (DecimalNumeric) is a JsonConverter setting: under Avro it
// is precise mode.

import (
	"fmt"
	"math"
	"strconv"

	"github.com/cdcflow/cdcflow/codecs/debezium"
)

func avroKeySchema(opts EncodeOptions, spec *tableSpec) string {
	ns := opts.prefix() + ".public." + spec.name
	return `{"type":"record","name":"Key","namespace":` + strconv.Quote(ns) +
		`,"fields":[{"name":"id","type":{"type":"int","connect.default":0},"default":0}],"connect.name":` +
		strconv.Quote(ns+".Key") + `}`
}

// avroColumnType renders the Avro type of a column (with the null union
// when the column is optional) and the field's default clause.
func avroColumnType(opts EncodeOptions, col columnSpec) (typ, def string) {
	switch col.kind {
	case vInt:
		typ = `"int"`
		if col.primaryKey {
			typ, def = `{"type":"int","connect.default":0}`, `,"default":0`
		}
	case vText:
		typ = `"string"`
	case vMoney:
		switch opts.Decimal {
		case DecimalString:
			typ = `"string"`
		case DecimalDouble:
			typ = `"double"`
		default:
			typ = `{"type":"bytes","scale":2,"precision":10,"connect.version":1,` +
				`"connect.parameters":{"scale":"2","connect.decimal.precision":"10"},` +
				`"connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}`
		}
	case vTime:
		name, base := "", "long"
		switch opts.Time {
		case TimeMicro:
			name = "io.debezium.time.MicroTimestamp"
		case TimeMilli:
			name = "io.debezium.time.Timestamp"
		case TimeNano:
			name = "io.debezium.time.NanoTimestamp"
		case TimeZoned:
			name, base = "io.debezium.time.ZonedTimestamp", "string"
		}
		typ = `{"type":"` + base + `","connect.version":1,"connect.name":"` + name + `"}`
	}
	if col.optional {
		return `["null",` + typ + `]`, `,"default":null`
	}
	return typ, def
}

func avroColumnFields(opts EncodeOptions, spec *tableSpec) string {
	var out []byte
	for ci, col := range spec.cols {
		if ci > 0 {
			out = append(out, ',')
		}
		typ, def := avroColumnType(opts, col)
		out = append(out, `{"name":"`+col.name+`","type":`+typ+def+`}`...)
	}
	return string(out)
}

func avroRowRecord(opts EncodeOptions, spec *tableSpec) string {
	ns := opts.prefix() + ".public." + spec.name
	return `{"type":"record","name":"Value","namespace":` + strconv.Quote(ns) + `,"fields":[` +
		avroColumnFields(opts, spec) + `],"connect.name":` + strconv.Quote(ns+".Value") + `}`
}

// avroSourceRecord is io.debezium.connector.postgresql.Source.
const avroSourceRecord = `{"type":"record","name":"Source","namespace":"io.debezium.connector.postgresql","fields":[` +
	`{"name":"version","type":"string"},` +
	`{"name":"connector","type":"string"},` +
	`{"name":"name","type":"string"},` +
	`{"name":"ts_ms","type":"long"},` +
	`{"name":"snapshot","type":[{"type":"string","connect.version":1,"connect.parameters":{"allowed":"true,last,false,incremental"},"connect.default":"false","connect.name":"io.debezium.data.Enum"},"null"],"default":"false"},` +
	`{"name":"db","type":"string"},` +
	`{"name":"sequence","type":["null","string"],"default":null},` +
	`{"name":"schema","type":"string"},` +
	`{"name":"table","type":"string"},` +
	`{"name":"txId","type":["null","long"],"default":null},` +
	`{"name":"lsn","type":["null","long"],"default":null},` +
	`{"name":"xmin","type":["null","long"],"default":null}` +
	`],"connect.name":"io.debezium.connector.postgresql.Source"}`

// avroTransactionRecord is the transaction block, Connect name event.block.
const avroTransactionRecord = `{"type":"record","name":"block","namespace":"event","fields":[` +
	`{"name":"id","type":"string"},` +
	`{"name":"total_order","type":"long"},` +
	`{"name":"data_collection_order","type":"long"}` +
	`],"connect.version":1,"connect.name":"event.block"}`

func avroEnvelopeSchema(opts EncodeOptions, spec *tableSpec) string {
	ns := opts.prefix() + ".public." + spec.name
	return `{"type":"record","name":"Envelope","namespace":` + strconv.Quote(ns) + `,"fields":[` +
		`{"name":"before","type":["null",` + avroRowRecord(opts, spec) + `],"default":null},` +
		`{"name":"after","type":["null",` + strconv.Quote(ns+".Value") + `],"default":null},` +
		`{"name":"source","type":` + avroSourceRecord + `},` +
		`{"name":"op","type":"string"},` +
		`{"name":"ts_ms","type":["null","long"],"default":null},` +
		`{"name":"transaction","type":["null",` + avroTransactionRecord + `],"default":null}` +
		`],"connect.version":2,"connect.name":` + strconv.Quote(ns+".Envelope") + `}`
}

func avroFlatSchema(opts EncodeOptions, spec *tableSpec, withLSN bool) string {
	ns := opts.prefix() + ".public." + spec.name
	fields := avroColumnFields(opts, spec) +
		`,{"name":"__op","type":["null","string"],"default":null}` +
		`,{"name":"__source_ts_ms","type":["null","long"],"default":null}` +
		`,{"name":"__source_db","type":["null","string"],"default":null}` +
		`,{"name":"__source_table","type":["null","string"],"default":null}`
	if withLSN {
		fields += `,{"name":"__source_lsn","type":["null","long"],"default":null}`
	}
	if opts.FlatSequence {
		fields += `,{"name":"__source_sequence","type":["null","string"],"default":null}`
	}
	fields += `,{"name":"__deleted","type":["null","string"],"default":null}`
	return `{"type":"record","name":"Value","namespace":` + strconv.Quote(ns) + `,"fields":[` + fields +
		`],"connect.name":` + strconv.Quote(ns+".Value") + `}`
}

// avroFrame registers schema under subject and frames the datum.
func avroFrame(opts EncodeOptions, subject, schema string, datum []byte) ([]byte, error) {
	id, err := opts.Register(subject, schema)
	if err != nil {
		return nil, fmt.Errorf("dbzenc: register %s: %w", subject, err)
	}
	out := make([]byte, 0, 5+len(datum))
	out = append(out, 0, byte(uint32(id)>>24), byte(uint32(id)>>16), byte(uint32(id)>>8), byte(id))
	return append(out, datum...), nil
}

func encodeAvroKey(opts EncodeOptions, spec *tableSpec, id int64) ([]byte, error) {
	return avroFrame(opts, topicName(opts, spec.name)+"-key", avroKeySchema(opts, spec), avroLong(nil, id))
}

func encodeAvro(opts EncodeOptions, spec *tableSpec, op debezium.Op, id int64, hasBefore, hasAfter bool, before, after *rowValues, unavailable uint32, src Source) (key, value []byte, err error) {
	if key, err = encodeAvroKey(opts, spec, id); err != nil {
		return nil, nil, err
	}
	subject := topicName(opts, spec.name) + "-value"
	var datum []byte
	if opts.Format == FormatAvroFlat {
		row, mask, deleted := after, unavailable, "false"
		if op == debezium.OpDelete {
			row, mask, deleted = before, 0, "true"
		}
		if datum, err = avroRow(nil, opts, spec, row, mask); err != nil {
			return nil, nil, err
		}
		datum = avroNullable(datum, true, func(b []byte) []byte { return avroString(b, string(rune(op))) })
		datum = avroNullable(datum, true, func(b []byte) []byte { return avroLong(b, src.TsMs) })
		datum = avroNullable(datum, true, func(b []byte) []byte { return avroString(b, opts.db()) })
		datum = avroNullable(datum, true, func(b []byte) []byte { return avroString(b, spec.name) })
		if src.LSN != 0 {
			datum = avroNullable(datum, true, func(b []byte) []byte { return avroLong(b, int64(src.LSN)) })
		}
		if opts.FlatSequence {
			datum = avroSequence(datum, src)
		}
		datum = avroNullable(datum, true, func(b []byte) []byte { return avroString(b, deleted) })
		value, err = avroFrame(opts, subject, avroFlatSchema(opts, spec, src.LSN != 0), datum)
		return key, value, err
	}
	var bp, ap *rowValues
	if hasBefore {
		bp = before
	}
	if hasAfter {
		ap = after
	}
	if datum, err = avroEnvelope(nil, opts, spec, op, bp, ap, unavailable, src); err != nil {
		return nil, nil, err
	}
	value, err = avroFrame(opts, subject, avroEnvelopeSchema(opts, spec), datum)
	return key, value, err
}

func encodeAvroTruncate(opts EncodeOptions, spec *tableSpec, src Source) ([]byte, error) {
	datum, err := avroEnvelope(nil, opts, spec, debezium.OpTruncate, nil, nil, 0, src)
	if err != nil {
		return nil, err
	}
	return avroFrame(opts, topicName(opts, spec.name)+"-value", avroEnvelopeSchema(opts, spec), datum)
}

func avroEnvelope(buf []byte, opts EncodeOptions, spec *tableSpec, op debezium.Op, before, after *rowValues, unavailable uint32, src Source) ([]byte, error) {
	var err error
	for i, row := range [2]*rowValues{before, after} {
		if row == nil {
			buf = avroLong(buf, 0) // null branch
			continue
		}
		buf = avroLong(buf, 1)
		mask := uint32(0)
		if i == 1 {
			mask = unavailable
		}
		if buf, err = avroRow(buf, opts, spec, row, mask); err != nil {
			return nil, err
		}
	}
	// source
	buf = avroString(buf, debeziumVersion)
	buf = avroString(buf, "postgresql")
	buf = avroString(buf, opts.prefix())
	buf = avroLong(buf, src.TsMs)
	buf = avroLong(buf, 0) // snapshot: branch 0 is the string ([string, null])
	if src.Snapshot || op == debezium.OpRead {
		buf = avroString(buf, "true")
	} else {
		buf = avroString(buf, "false")
	}
	buf = avroString(buf, opts.db())
	buf = avroSequence(buf, src)
	buf = avroString(buf, "public")
	buf = avroString(buf, spec.name)
	buf = avroNullable(buf, src.TxID != 0, func(b []byte) []byte { return avroLong(b, src.TxID) })
	buf = avroNullable(buf, src.LSN != 0, func(b []byte) []byte { return avroLong(b, int64(src.LSN)) })
	buf = avroLong(buf, 0) // xmin null
	// op, ts_ms, transaction
	buf = avroString(buf, string(rune(op)))
	ts := src.EventTsMs
	if ts == 0 {
		ts = src.TsMs
	}
	buf = avroNullable(buf, true, func(b []byte) []byte { return avroLong(b, ts) })
	return avroLong(buf, 0), nil // transaction null
}

// avroSequence renders source.sequence as a nullable string (null without
// an LSN).
func avroSequence(buf []byte, src Source) []byte {
	if src.LSN == 0 {
		return avroLong(buf, 0)
	}
	seq := `[`
	if src.LastCommitLSN == 0 {
		seq += `null`
	} else {
		seq += `"` + strconv.FormatUint(src.LastCommitLSN, 10) + `"`
	}
	seq += `,"` + strconv.FormatUint(src.LSN, 10) + `"]`
	return avroString(avroLong(buf, 1), seq)
}

// avroRow renders the columns of a row record; the columns in unavailable
// carry the placeholder.
func avroRow(buf []byte, opts EncodeOptions, spec *tableSpec, row *rowValues, unavailable uint32) ([]byte, error) {
	for ci, col := range spec.cols {
		v := row[ci]
		null := col.zeroIsNull && v.num == 0 && v.text == "" && unavailable&(1<<ci) == 0
		if col.optional {
			if null {
				buf = avroLong(buf, 0)
				continue
			}
			buf = avroLong(buf, 1)
		} else if null {
			return nil, fmt.Errorf("dbzenc: encode %s.%s: NULL in a column whose schema is not optional", spec.name, col.name)
		}
		if unavailable&(1<<ci) != 0 {
			buf = avroString(buf, opts.placeholder())
			continue
		}
		switch col.kind {
		case vInt:
			buf = avroLong(buf, v.num)
		case vText:
			buf = avroString(buf, v.text)
		case vMoney:
			buf = avroMoney(buf, opts.Decimal, v.num)
		case vTime:
			switch opts.Time {
			case TimeMilli:
				buf = avroLong(buf, floorDiv(v.num, 1000))
			case TimeNano:
				const limit = (1<<63 - 1) / 1000
				if v.num > limit || v.num < -limit {
					return nil, fmt.Errorf("dbzenc: encode %s.%s: timestamp %d µs overflows int64 nanoseconds", spec.name, col.name, v.num)
				}
				buf = avroLong(buf, v.num*1000)
			case TimeZoned:
				var tmp [40]byte
				q, err := appendTime(tmp[:0], TimeZoned, v.num) // the JSON string, quotes included
				if err != nil {
					return nil, err
				}
				buf = avroString(buf, string(q[1:len(q)-1]))
			default:
				buf = avroLong(buf, v.num)
			}
		}
	}
	return buf, nil
}

// avroMoney renders cents (scale 2) in a decimal mode: the unscaled value's
// minimal big-endian two's complement (BigInteger.toByteArray) as bytes, a
// plain string, or the double nearest to the value.
func avroMoney(buf []byte, mode DecimalMode, cents int64) []byte {
	switch mode {
	case DecimalString:
		var tmp [32]byte
		return avroBytes(buf, appendCentsPlain(tmp[:0], cents))
	case DecimalDouble:
		// cents and 100 are exact doubles; IEEE division rounds the
		// quotient correctly, to the double nearest cents/100.
		bits := math.Float64bits(float64(cents) / 100)
		for i := 0; i < 8; i++ {
			buf = append(buf, byte(bits>>(8*i)))
		}
		return buf
	}
	var raw [8]byte
	for i := range raw {
		raw[i] = byte(uint64(cents) >> (56 - 8*i))
	}
	start := 0
	for start < 7 && ((raw[start] == 0 && raw[start+1]&0x80 == 0) || (raw[start] == 0xff && raw[start+1]&0x80 != 0)) {
		start++
	}
	return avroBytes(buf, raw[start:])
}

// avroNullable renders a [null, T] union: branch 1 and the value when
// present, branch 0 otherwise.
func avroNullable(buf []byte, present bool, value func([]byte) []byte) []byte {
	if !present {
		return avroLong(buf, 0)
	}
	return value(avroLong(buf, 1))
}

// avroLong renders an Avro int or long: zigzag, then base-128 varint.
func avroLong(buf []byte, v int64) []byte {
	u := uint64(v<<1) ^ uint64(v>>63)
	for u >= 0x80 {
		buf = append(buf, byte(u)|0x80)
		u >>= 7
	}
	return append(buf, byte(u))
}

func avroString(buf []byte, s string) []byte {
	return append(avroLong(buf, int64(len(s))), s...)
}

func avroBytes(buf []byte, b []byte) []byte {
	return append(avroLong(buf, int64(len(b))), b...)
}
