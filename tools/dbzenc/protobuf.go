package dbzenc

// The Protobuf formats: what a Debezium PostgreSQL connector writes through
// Confluent's io.confluent.connect.protobuf.ProtobufConverter. The value is
// the protobuf binary of the Connect value in the Confluent wire format
// (byte 0, the 4-byte big-endian schema id, the message-index path — a
// single 0 for the first message of the schema — then the message). The
// .proto schemas are written here from the Connect schemas, by the rules of
// Confluent's ProtobufData.fromConnectSchema (protobuf-converter):
//
//   - proto3; the package is the namespace of the value's Connect name
//     (<prefix>.public.<table>), the top-level message its last segment
//     (Envelope, Value, Key);
//   - a struct is a message, fields numbered 1, 2, … in Connect order; a
//     nested struct is a message nested in the message that first uses
//     it, named after the last segment of its Connect name (Value, Source,
//     block);
//   - int8/int16/int32 are int32, int64 int64, string string, boolean bool,
//     float64 double, bytes bytes; Debezium's named types (MicroTimestamp,
//     ZonedTimestamp, Enum …) keep only their base type;
//   - org.apache.kafka.connect.data.Decimal is confluent.type.Decimal
//     (import "confluent/type/decimal.proto") with the precision and scale
//     in (confluent.field_meta).params (import "confluent/meta.proto");
//     its value carries the unscaled bytes, the precision and the scale;
//   - an optional Connect schema is a proto3 "optional" field: the
//     converter's optional.for.nullables=true, which keeps NULL apart from
//     0 and "" (without it a NULL reads back as the default value).
//
// A proto3 field whose value is the default (0, "", no bytes) is not
// written unless it is "optional"; a NULL optional field is not written.

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/cdcflow/cdcflow/codecs/debezium"
	"google.golang.org/protobuf/encoding/protowire"
)

// pbField is one field of a generated message.
type pbField struct {
	name     string
	typ      string // proto type: int32, int64, string, or a message name
	optional bool   // proto3 optional
	options  string // field options text, e.g. [(confluent.field_meta) = …]
}

func pbMessage(b *strings.Builder, indent, name string, fields []pbField, nested []string) {
	b.WriteString(indent + "message " + name + " {\n")
	for i, f := range fields {
		b.WriteString(indent + "  ")
		if f.optional {
			b.WriteString("optional ")
		}
		b.WriteString(f.typ + " " + f.name + " = " + strconv.Itoa(i+1))
		if f.options != "" {
			b.WriteString(" " + f.options)
		}
		b.WriteString(";\n")
	}
	for _, n := range nested {
		b.WriteString("\n")
		for _, line := range strings.Split(strings.TrimRight(n, "\n"), "\n") {
			b.WriteString(indent + "  " + line + "\n")
		}
	}
	b.WriteString(indent + "}\n")
}

const pbDecimalOptions = `[(confluent.field_meta) = { params: [{ key: "precision", value: "10" }, { key: "scale", value: "2" }] }]`

func pbColumnFields(opts EncodeOptions, spec *tableSpec) []pbField {
	out := make([]pbField, 0, len(spec.cols)+8)
	for _, col := range spec.cols {
		f := pbField{name: col.name, optional: col.optional}
		switch col.kind {
		case vInt:
			f.typ = "int32"
		case vText:
			f.typ = "string"
		case vMoney:
			switch opts.Decimal {
			case DecimalString:
				f.typ = "string"
			case DecimalDouble:
				f.typ = "double"
			default:
				f.typ, f.optional, f.options = "confluent.type.Decimal", false, pbDecimalOptions
			}
		case vTime:
			f.typ = "int64"
			if opts.Time == TimeZoned {
				f.typ = "string"
			}
		}
		out = append(out, f)
	}
	return out
}

func pbHeader(opts EncodeOptions, spec *tableSpec, decimal bool) string {
	h := "syntax = \"proto3\";\npackage " + opts.prefix() + ".public." + spec.name + ";\n\n"
	if decimal && opts.Decimal != DecimalString && opts.Decimal != DecimalDouble {
		h += "import \"confluent/meta.proto\";\nimport \"confluent/type/decimal.proto\";\n\n"
	}
	return h
}

func pbKeySchema(opts EncodeOptions, spec *tableSpec) string {
	var b strings.Builder
	b.WriteString(pbHeader(opts, spec, false))
	pbMessage(&b, "", "Key", []pbField{{name: "id", typ: "int32"}}, nil)
	return b.String()
}

func pbEnvelopeSchema(opts EncodeOptions, spec *tableSpec) string {
	var value, source, block strings.Builder
	pbMessage(&value, "", "Value", pbColumnFields(opts, spec), nil)
	pbMessage(&source, "", "Source", []pbField{
		{name: "version", typ: "string"},
		{name: "connector", typ: "string"},
		{name: "name", typ: "string"},
		{name: "ts_ms", typ: "int64"},
		{name: "snapshot", typ: "string", optional: true},
		{name: "db", typ: "string"},
		{name: "sequence", typ: "string", optional: true},
		{name: "schema", typ: "string"},
		{name: "table", typ: "string"},
		{name: "txId", typ: "int64", optional: true},
		{name: "lsn", typ: "int64", optional: true},
		{name: "xmin", typ: "int64", optional: true},
	}, nil)
	pbMessage(&block, "", "block", []pbField{
		{name: "id", typ: "string"},
		{name: "total_order", typ: "int64"},
		{name: "data_collection_order", typ: "int64"},
	}, nil)
	var b strings.Builder
	b.WriteString(pbHeader(opts, spec, true))
	pbMessage(&b, "", "Envelope", []pbField{
		{name: "before", typ: "Value"},
		{name: "after", typ: "Value"},
		{name: "source", typ: "Source"},
		{name: "op", typ: "string"},
		{name: "ts_ms", typ: "int64", optional: true},
		{name: "transaction", typ: "block"},
	}, []string{value.String(), source.String(), block.String()})
	return b.String()
}

func pbFlatSchema(opts EncodeOptions, spec *tableSpec, withLSN bool) string {
	fields := pbColumnFields(opts, spec)
	fields = append(fields,
		pbField{name: "__op", typ: "string", optional: true},
		pbField{name: "__source_ts_ms", typ: "int64", optional: true},
		pbField{name: "__source_db", typ: "string", optional: true},
		pbField{name: "__source_table", typ: "string", optional: true})
	if withLSN {
		fields = append(fields, pbField{name: "__source_lsn", typ: "int64", optional: true})
	}
	if opts.FlatSequence {
		fields = append(fields, pbField{name: "__source_sequence", typ: "string", optional: true})
	}
	fields = append(fields, pbField{name: "__deleted", typ: "string", optional: true})
	var b strings.Builder
	b.WriteString(pbHeader(opts, spec, true))
	pbMessage(&b, "", "Value", fields, nil)
	return b.String()
}

// pbFrame registers schema under subject and frames the message with the
// message-index path [0] (the one byte 0).
func pbFrame(opts EncodeOptions, subject, schema string, msg []byte) ([]byte, error) {
	id, err := opts.Register(subject, schema)
	if err != nil {
		return nil, fmt.Errorf("dbzenc: register %s: %w", subject, err)
	}
	out := make([]byte, 0, 6+len(msg))
	out = append(out, 0, byte(uint32(id)>>24), byte(uint32(id)>>16), byte(uint32(id)>>8), byte(id), 0)
	return append(out, msg...), nil
}

// pb field writers: proto3 omits a default value unless the field is
// optional (explicit presence).
func pbInt(buf []byte, num protowire.Number, v int64, explicit bool) []byte {
	if v == 0 && !explicit {
		return buf
	}
	buf = protowire.AppendTag(buf, num, protowire.VarintType)
	return protowire.AppendVarint(buf, uint64(v))
}

func pbString(buf []byte, num protowire.Number, s string, explicit bool) []byte {
	if s == "" && !explicit {
		return buf
	}
	buf = protowire.AppendTag(buf, num, protowire.BytesType)
	return protowire.AppendString(buf, s)
}

func pbBytes(buf []byte, num protowire.Number, b []byte) []byte {
	buf = protowire.AppendTag(buf, num, protowire.BytesType)
	return protowire.AppendBytes(buf, b)
}

func encodeProtobufKey(opts EncodeOptions, spec *tableSpec, id int64) ([]byte, error) {
	return pbFrame(opts, topicName(opts, spec.name)+"-key", pbKeySchema(opts, spec), pbInt(nil, 1, id, false))
}

// pbMoney renders a DECIMAL value: confluent.type.Decimal {value: the
// unscaled minimal two's complement bytes, precision 10, scale 2}, a
// string or a double.
func pbMoney(buf []byte, num protowire.Number, mode DecimalMode, cents int64, explicit bool) []byte {
	switch mode {
	case DecimalString:
		var tmp [32]byte
		return pbString(buf, num, string(appendCentsPlain(tmp[:0], cents)), explicit)
	case DecimalDouble:
		f := float64(cents) / 100
		if f == 0 && !explicit {
			return buf
		}
		buf = protowire.AppendTag(buf, num, protowire.Fixed64Type)
		return protowire.AppendFixed64(buf, mathFloat64bits(f))
	}
	var raw [8]byte
	for i := range raw {
		raw[i] = byte(uint64(cents) >> (56 - 8*i))
	}
	start := 0
	for start < 7 && ((raw[start] == 0 && raw[start+1]&0x80 == 0) || (raw[start] == 0xff && raw[start+1]&0x80 != 0)) {
		start++
	}
	var dec []byte
	dec = pbBytes(dec, 1, raw[start:])
	dec = pbInt(dec, 2, 10, false)
	dec = pbInt(dec, 3, 2, false)
	return pbBytes(buf, num, dec)
}

// pbRow renders the columns of a row message; the columns in unavailable
// carry the placeholder.
func pbRow(buf []byte, opts EncodeOptions, spec *tableSpec, row *rowValues, unavailable uint32) ([]byte, error) {
	fields := pbColumnFields(opts, spec)
	for ci, col := range spec.cols {
		num := protowire.Number(ci + 1)
		v := row[ci]
		explicit := fields[ci].optional
		null := col.zeroIsNull && v.num == 0 && v.text == "" && unavailable&(1<<ci) == 0
		if null {
			if !col.optional {
				return nil, fmt.Errorf("dbzenc: encode %s.%s: NULL in a column whose schema is not optional", spec.name, col.name)
			}
			continue
		}
		if unavailable&(1<<ci) != 0 {
			buf = pbString(buf, num, opts.placeholder(), true)
			continue
		}
		switch col.kind {
		case vInt:
			buf = pbInt(buf, num, v.num, explicit)
		case vText:
			buf = pbString(buf, num, v.text, explicit)
		case vMoney:
			buf = pbMoney(buf, num, opts.Decimal, v.num, explicit)
		case vTime:
			switch opts.Time {
			case TimeMilli:
				buf = pbInt(buf, num, floorDiv(v.num, 1000), explicit)
			case TimeNano:
				const limit = (1<<63 - 1) / 1000
				if v.num > limit || v.num < -limit {
					return nil, fmt.Errorf("dbzenc: encode %s.%s: timestamp %d µs overflows int64 nanoseconds", spec.name, col.name, v.num)
				}
				buf = pbInt(buf, num, v.num*1000, explicit)
			case TimeZoned:
				var tmp [40]byte
				q, err := appendTime(tmp[:0], TimeZoned, v.num)
				if err != nil {
					return nil, err
				}
				buf = pbString(buf, num, string(q[1:len(q)-1]), explicit)
			default:
				buf = pbInt(buf, num, v.num, explicit)
			}
		}
	}
	return buf, nil
}

func pbSequence(src Source) (string, bool) {
	if src.LSN == 0 {
		return "", false
	}
	seq := `[`
	if src.LastCommitLSN == 0 {
		seq += `null`
	} else {
		seq += `"` + strconv.FormatUint(src.LastCommitLSN, 10) + `"`
	}
	return seq + `,"` + strconv.FormatUint(src.LSN, 10) + `"]`, true
}

func pbEnvelope(opts EncodeOptions, spec *tableSpec, op debezium.Op, before, after *rowValues, unavailable uint32, src Source) ([]byte, error) {
	var buf []byte
	for i, row := range [2]*rowValues{before, after} {
		if row == nil {
			continue
		}
		mask := uint32(0)
		if i == 1 {
			mask = unavailable
		}
		r, err := pbRow(nil, opts, spec, row, mask)
		if err != nil {
			return nil, err
		}
		buf = pbBytes(buf, protowire.Number(i+1), r)
	}
	var s []byte
	s = pbString(s, 1, debeziumVersion, false)
	s = pbString(s, 2, "postgresql", false)
	s = pbString(s, 3, opts.prefix(), false)
	s = pbInt(s, 4, src.TsMs, false)
	if src.Snapshot || op == debezium.OpRead {
		s = pbString(s, 5, "true", true)
	} else {
		s = pbString(s, 5, "false", true)
	}
	s = pbString(s, 6, opts.db(), false)
	if seq, ok := pbSequence(src); ok {
		s = pbString(s, 7, seq, true)
	}
	s = pbString(s, 8, "public", false)
	s = pbString(s, 9, spec.name, false)
	if src.TxID != 0 {
		s = pbInt(s, 10, src.TxID, true)
	}
	if src.LSN != 0 {
		s = pbInt(s, 11, int64(src.LSN), true)
	}
	buf = pbBytes(buf, 3, s)
	buf = pbString(buf, 4, string(rune(op)), false)
	ts := src.EventTsMs
	if ts == 0 {
		ts = src.TsMs
	}
	return pbInt(buf, 5, ts, true), nil
}

func encodeProtobuf(opts EncodeOptions, spec *tableSpec, op debezium.Op, id int64, hasBefore, hasAfter bool, before, after *rowValues, unavailable uint32, src Source) (key, value []byte, err error) {
	if key, err = encodeProtobufKey(opts, spec, id); err != nil {
		return nil, nil, err
	}
	subject := topicName(opts, spec.name) + "-value"
	var msg []byte
	if opts.Format == FormatProtobufFlat {
		row, mask, deleted := after, unavailable, "false"
		if op == debezium.OpDelete {
			row, mask, deleted = before, 0, "true"
		}
		if msg, err = pbRow(nil, opts, spec, row, mask); err != nil {
			return nil, nil, err
		}
		n := protowire.Number(len(spec.cols) + 1)
		msg = pbString(msg, n, string(rune(op)), true)
		msg = pbInt(msg, n+1, src.TsMs, true)
		msg = pbString(msg, n+2, opts.db(), true)
		msg = pbString(msg, n+3, spec.name, true)
		n += 4
		if src.LSN != 0 {
			msg = pbInt(msg, n, int64(src.LSN), true)
			n++
		}
		if opts.FlatSequence {
			if seq, ok := pbSequence(src); ok {
				msg = pbString(msg, n, seq, true)
			}
			n++
		}
		msg = pbString(msg, n, deleted, true)
		value, err = pbFrame(opts, subject, pbFlatSchema(opts, spec, src.LSN != 0), msg)
		return key, value, err
	}
	var bp, ap *rowValues
	if hasBefore {
		bp = before
	}
	if hasAfter {
		ap = after
	}
	if msg, err = pbEnvelope(opts, spec, op, bp, ap, unavailable, src); err != nil {
		return nil, nil, err
	}
	value, err = pbFrame(opts, subject, pbEnvelopeSchema(opts, spec), msg)
	return key, value, err
}

func encodeProtobufTruncate(opts EncodeOptions, spec *tableSpec, src Source) ([]byte, error) {
	msg, err := pbEnvelope(opts, spec, debezium.OpTruncate, nil, nil, 0, src)
	if err != nil {
		return nil, err
	}
	return pbFrame(opts, topicName(opts, spec.name)+"-value", pbEnvelopeSchema(opts, spec), msg)
}

func mathFloat64bits(f float64) uint64 { return math.Float64bits(f) }
