package dbzenc

// The JSON Schema formats: what a Debezium PostgreSQL connector writes
// through Confluent's io.confluent.connect.json.JsonSchemaConverter. The
// value is the plain JSON of the Connect value (what the JsonConverter
// writes with schemas.enable=false), framed in the Confluent wire format
// (byte 0, the 4-byte big-endian schema id). The schemas are written here
// from the Connect schemas the JSON formats print, by the rules of
// Confluent's JsonSchemaData.fromConnectSchema (json-schema-converter):
//
//   - int8/16/32/64 are {"type":"integer","connect.type":"int32"…},
//     float32/64 {"type":"number","connect.type":"float64"…}, string
//     {"type":"string"}, boolean {"type":"boolean"};
//   - bytes are {"type":"string","connect.type":"bytes"}, except
//     org.apache.kafka.connect.data.Decimal: {"type":"number",
//     "connect.type":"bytes"} (its value is base64 with decimal.format
//     BASE64, the converter's default, or a number with NUMERIC);
//   - a struct is {"type":"object","properties":{…}}, each property with
//     "connect.index", its position;
//   - a schema's name is its "title", its version "connect.version", its
//     parameters "connect.parameters", its default "default";
//   - an optional schema is {"oneOf":[{"type":"null"},S],"connect.index":i}
//     (the index moves from S to the oneOf).

import (
	"fmt"
	"strconv"

	"github.com/cdcflow/cdcflow/codecs/debezium"
)

// jsProp is one property of a generated JSON Schema object: a Connect
// field.
type jsProp struct {
	name     string
	schema   string // the JSON Schema of the field's type, without connect.index
	optional bool
}

// jsField renders a property's schema with its connect.index, wrapped in
// oneOf null when optional.
func jsField(p jsProp, index int) string {
	if p.optional {
		return `{"oneOf":[{"type":"null"},` + p.schema + `],"connect.index":` + strconv.Itoa(index) + `}`
	}
	// insert connect.index before the closing brace
	return p.schema[:len(p.schema)-1] + `,"connect.index":` + strconv.Itoa(index) + `}`
}

// jsObject renders a struct schema.
func jsObject(title string, version int, props []jsProp) string {
	out := `{"type":"object"`
	if title != "" {
		out += `,"title":` + strconv.Quote(title)
	}
	out += `,"properties":{`
	for i, p := range props {
		if i > 0 {
			out += ","
		}
		out += strconv.Quote(p.name) + ":" + jsField(p, i)
	}
	out += "}"
	if version > 0 {
		out += `,"connect.version":` + strconv.Itoa(version)
	}
	return out + "}"
}

const (
	jsInt32  = `{"type":"integer","connect.type":"int32"}`
	jsInt64  = `{"type":"integer","connect.type":"int64"}`
	jsString = `{"type":"string"}`
)

// jsColumnSchema is the JSON Schema of a column's Connect type.
func jsColumnSchema(opts EncodeOptions, col columnSpec) string {
	switch col.kind {
	case vInt:
		if col.primaryKey {
			return `{"type":"integer","default":0,"connect.type":"int32"}`
		}
		return jsInt32
	case vText:
		return jsString
	case vMoney:
		switch opts.Decimal {
		case DecimalString:
			return jsString
		case DecimalDouble:
			return `{"type":"number","connect.type":"float64"}`
		}
		return `{"type":"number","title":"org.apache.kafka.connect.data.Decimal","connect.version":1,` +
			`"connect.parameters":{"scale":"2","connect.decimal.precision":"10"},"connect.type":"bytes"}`
	case vTime:
		switch opts.Time {
		case TimeMilli:
			return `{"type":"integer","title":"io.debezium.time.Timestamp","connect.version":1,"connect.type":"int64"}`
		case TimeNano:
			return `{"type":"integer","title":"io.debezium.time.NanoTimestamp","connect.version":1,"connect.type":"int64"}`
		case TimeZoned:
			return `{"type":"string","title":"io.debezium.time.ZonedTimestamp","connect.version":1}`
		}
		return `{"type":"integer","title":"io.debezium.time.MicroTimestamp","connect.version":1,"connect.type":"int64"}`
	}
	panic("dbzenc: unknown column kind")
}

func jsColumnProps(opts EncodeOptions, spec *tableSpec) []jsProp {
	props := make([]jsProp, 0, len(spec.cols)+8)
	for _, col := range spec.cols {
		props = append(props, jsProp{name: col.name, schema: jsColumnSchema(opts, col), optional: col.optional})
	}
	return props
}

// jsSourceSchema is io.debezium.connector.postgresql.Source.
var jsSourceSchema = jsObject("io.debezium.connector.postgresql.Source", 0, []jsProp{
	{"version", jsString, false},
	{"connector", jsString, false},
	{"name", jsString, false},
	{"ts_ms", jsInt64, false},
	{"snapshot", `{"type":"string","title":"io.debezium.data.Enum","default":"false","connect.version":1,"connect.parameters":{"allowed":"true,last,false,incremental"}}`, true},
	{"db", jsString, false},
	{"sequence", jsString, true},
	{"schema", jsString, false},
	{"table", jsString, false},
	{"txId", jsInt64, true},
	{"lsn", jsInt64, true},
	{"xmin", jsInt64, true},
})

// jsTransactionSchema is the transaction block, Connect name event.block.
var jsTransactionSchema = jsObject("event.block", 1, []jsProp{
	{"id", jsString, false},
	{"total_order", jsInt64, false},
	{"data_collection_order", jsInt64, false},
})

func jsKeySchema(opts EncodeOptions, spec *tableSpec) string {
	return jsObject(opts.prefix()+".public."+spec.name+".Key", 0, []jsProp{
		{"id", `{"type":"integer","default":0,"connect.type":"int32"}`, false},
	})
}

func jsEnvelopeSchema(opts EncodeOptions, spec *tableSpec) string {
	ns := opts.prefix() + ".public." + spec.name
	row := jsObject(ns+".Value", 0, jsColumnProps(opts, spec))
	return jsObject(ns+".Envelope", 2, []jsProp{
		{"before", row, true},
		{"after", row, true},
		{"source", jsSourceSchema, false},
		{"op", jsString, false},
		{"ts_ms", jsInt64, true},
		{"transaction", jsTransactionSchema, true},
	})
}

func jsFlatSchema(opts EncodeOptions, spec *tableSpec, withLSN bool) string {
	props := jsColumnProps(opts, spec)
	props = append(props,
		jsProp{"__op", jsString, true},
		jsProp{"__source_ts_ms", jsInt64, true},
		jsProp{"__source_db", jsString, true},
		jsProp{"__source_table", jsString, true})
	if withLSN {
		props = append(props, jsProp{"__source_lsn", jsInt64, true})
	}
	if opts.FlatSequence {
		props = append(props, jsProp{"__source_sequence", jsString, true})
	}
	props = append(props, jsProp{"__deleted", jsString, true})
	return jsObject(opts.prefix()+".public."+spec.name+".Value", 0, props)
}

// jsFrame registers schema under subject and frames the JSON value.
func jsFrame(opts EncodeOptions, subject, schema string, value []byte) ([]byte, error) {
	id, err := opts.Register(subject, schema)
	if err != nil {
		return nil, fmt.Errorf("dbzenc: register %s: %w", subject, err)
	}
	out := make([]byte, 0, 5+len(value))
	out = append(out, 0, byte(uint32(id)>>24), byte(uint32(id)>>16), byte(uint32(id)>>8), byte(id))
	return append(out, value...), nil
}

func encodeJSONSchemaKey(opts EncodeOptions, spec *tableSpec, id int64) ([]byte, error) {
	plain := opts
	plain.Format = FormatEnvelopeNoSchema
	return jsFrame(opts, topicName(opts, spec.name)+"-key", jsKeySchema(opts, spec), appendKey(nil, plain, spec.name, id))
}

func encodeJSONSchema(opts EncodeOptions, spec *tableSpec, op debezium.Op, id int64, hasBefore, hasAfter bool, before, after *rowValues, unavailable uint32, src Source) (key, value []byte, err error) {
	if key, err = encodeJSONSchemaKey(opts, spec, id); err != nil {
		return nil, nil, err
	}
	subject := topicName(opts, spec.name) + "-value"
	var payload []byte
	if opts.Format == FormatJSONSchemaFlat {
		row, mask, deleted := after, unavailable, "false"
		if op == debezium.OpDelete {
			row, mask, deleted = before, 0, "true"
		}
		if payload, err = appendFlatPayload(make([]byte, 0, 1024), opts, spec, op, row, mask, deleted, src); err != nil {
			return nil, nil, err
		}
		value, err = jsFrame(opts, subject, jsFlatSchema(opts, spec, src.LSN != 0), payload)
		return key, value, err
	}
	var bp, ap *rowValues
	if hasBefore {
		bp = before
	}
	if hasAfter {
		ap = after
	}
	if payload, err = appendEnvelopeValue(make([]byte, 0, 2048), opts, spec, op, bp, ap, unavailable, src); err != nil {
		return nil, nil, err
	}
	value, err = jsFrame(opts, subject, jsEnvelopeSchema(opts, spec), payload)
	return key, value, err
}

func encodeJSONSchemaTruncate(opts EncodeOptions, spec *tableSpec, src Source) ([]byte, error) {
	payload, err := appendEnvelopeValue(make([]byte, 0, 2048), opts, spec, debezium.OpTruncate, nil, nil, 0, src)
	if err != nil {
		return nil, err
	}
	return jsFrame(opts, topicName(opts, spec.name)+"-value", jsEnvelopeSchema(opts, spec), payload)
}
