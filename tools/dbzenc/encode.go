package dbzenc

import (
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/cdcflow/cdcflow/codecs/debezium"
)

// Format selects the shape of the messages Encode produces.
type Format uint8

// The message shapes of a Debezium deployment.
const (
	// FormatEnvelope is the change envelope inside the JsonConverter schema
	// wrapper ({"schema":…,"payload":…}), Debezium's default output.
	FormatEnvelope Format = iota
	// FormatEnvelopeNoSchema is the bare envelope (schemas.enable=false).
	FormatEnvelopeNoSchema
	// FormatFlat is the ExtractNewRecordState output (delete.handling.mode=
	// rewrite, add.fields=op,source.ts_ms,source.db,source.table, plus
	// source.lsn when the change has an LSN and source.sequence with
	// EncodeOptions.FlatSequence) inside the schema wrapper.
	FormatFlat
	// FormatFlatNoSchema is FormatFlat without the schema wrapper.
	FormatFlatNoSchema
	// FormatAvro is the change envelope as Confluent's AvroConverter
	// writes it: Avro binary in the Confluent wire format (magic byte 0,
	// the schema id EncodeOptions.Register returned, the datum). See
	// avro.go for the schemas.
	FormatAvro
	// FormatAvroFlat is the ExtractNewRecordState record (as FormatFlat)
	// through the AvroConverter.
	FormatAvroFlat
	// FormatJSONSchema is the change envelope as Confluent's
	// JsonSchemaConverter writes it: the Confluent framing (magic byte 0,
	// the schema id EncodeOptions.Register returned for the JSON Schema),
	// then the plain JSON of the value (no schema wrapper). See
	// jsonschema.go for the schemas.
	FormatJSONSchema
	// FormatJSONSchemaFlat is the ExtractNewRecordState record (as
	// FormatFlat) through the JsonSchemaConverter.
	FormatJSONSchemaFlat
	// FormatProtobuf is the change envelope as Confluent's
	// ProtobufConverter writes it: the Confluent framing (magic byte 0,
	// the schema id EncodeOptions.Register returned for the .proto schema,
	// the message-index path [0]), then the protobuf message. See
	// protobuf.go for the schemas.
	FormatProtobuf
	// FormatProtobufFlat is the ExtractNewRecordState record (as
	// FormatFlat) through the ProtobufConverter.
	FormatProtobufFlat
)

// String names the format.
func (f Format) String() string {
	switch f {
	case FormatEnvelope:
		return "envelope"
	case FormatEnvelopeNoSchema:
		return "envelope-noschema"
	case FormatFlat:
		return "flat"
	case FormatFlatNoSchema:
		return "flat-noschema"
	case FormatAvro:
		return "avro"
	case FormatAvroFlat:
		return "avro-flat"
	case FormatJSONSchema:
		return "jsonschema"
	case FormatJSONSchemaFlat:
		return "jsonschema-flat"
	case FormatProtobuf:
		return "protobuf"
	case FormatProtobufFlat:
		return "protobuf-flat"
	}
	return "Format(" + strconv.Itoa(int(f)) + ")"
}

// WithSchema reports whether the format carries the JsonConverter schema
// wrapper.
func (f Format) WithSchema() bool { return f == FormatEnvelope || f == FormatFlat }

// Flat reports whether the format is the ExtractNewRecordState flattening
// (no before image, no source block).
func (f Format) Flat() bool {
	return f == FormatFlat || f == FormatFlatNoSchema || f == FormatAvroFlat || f == FormatJSONSchemaFlat || f == FormatProtobufFlat
}

// Protobuf reports whether the format is Protobuf through a schema
// registry (the ProtobufConverter).
func (f Format) Protobuf() bool { return f == FormatProtobuf || f == FormatProtobufFlat }

// JSONSchema reports whether the format is JSON through a schema registry
// (the JsonSchemaConverter).
func (f Format) JSONSchema() bool { return f == FormatJSONSchema || f == FormatJSONSchemaFlat }

// Registry reports whether the format goes through a schema registry
// (Avro, JSON Schema, Protobuf).
func (f Format) Registry() bool { return f.Avro() || f.JSONSchema() || f.Protobuf() }

// SchemaType is the registry's schemaType of the format's schemas: AVRO,
// JSON or PROTOBUF; "" for the formats without a registry.
func (f Format) SchemaType() string {
	switch {
	case f.Avro():
		return "AVRO"
	case f.JSONSchema():
		return "JSON"
	case f.Protobuf():
		return "PROTOBUF"
	}
	return ""
}

// KeySchema returns the registry schema of the record keys of table in
// opts.Format (Avro, JSON Schema or Protobuf): <prefix>.public.<table>.Key
// with the int id.
func KeySchema(opts EncodeOptions, table string) (string, error) {
	spec := specFor(table)
	if spec == nil {
		return "", fmt.Errorf("dbzenc: key schema: unknown table %q", table)
	}
	switch {
	case opts.Format.Avro():
		return avroKeySchema(opts, spec), nil
	case opts.Format.JSONSchema():
		return jsKeySchema(opts, spec), nil
	case opts.Format.Protobuf():
		return pbKeySchema(opts, spec), nil
	}
	return "", fmt.Errorf("dbzenc: key schema: format %s has no registry schema", opts.Format)
}

// ValueSchema returns the registry schema of the record values of table in
// opts.Format: the envelope (FormatAvro, FormatJSONSchema, FormatProtobuf,
// and truncates in every registry format) or the ExtractNewRecordState
// record (the Flat formats; withLSN adds __source_lsn, which the flat
// formats carry when the change has an LSN).
func ValueSchema(opts EncodeOptions, table string, withLSN bool) (string, error) {
	spec := specFor(table)
	if spec == nil {
		return "", fmt.Errorf("dbzenc: value schema: unknown table %q", table)
	}
	flat := opts.Format.Flat()
	switch {
	case opts.Format.Avro() && flat:
		return avroFlatSchema(opts, spec, withLSN), nil
	case opts.Format.Avro():
		return avroEnvelopeSchema(opts, spec), nil
	case opts.Format.JSONSchema() && flat:
		return jsFlatSchema(opts, spec, withLSN), nil
	case opts.Format.JSONSchema():
		return jsEnvelopeSchema(opts, spec), nil
	case opts.Format.Protobuf() && flat:
		return pbFlatSchema(opts, spec, withLSN), nil
	case opts.Format.Protobuf():
		return pbEnvelopeSchema(opts, spec), nil
	}
	return "", fmt.Errorf("dbzenc: value schema: format %s has no registry schema", opts.Format)
}

// Converters names the connector converters ConverterFormat knows, in the
// order of the flags' help.
const Converters = "json, avro, jsonschema, protobuf"

// ConverterFormat is the envelope format a connector writes with the named
// converter: json (JsonConverter), avro (AvroConverter), jsonschema
// (JsonSchemaConverter), protobuf (ProtobufConverter).
func ConverterFormat(name string) (Format, error) {
	switch name {
	case "json":
		return FormatEnvelope, nil
	case "avro":
		return FormatAvro, nil
	case "jsonschema":
		return FormatJSONSchema, nil
	case "protobuf":
		return FormatProtobuf, nil
	}
	return 0, fmt.Errorf("converter %q: want one of %s", name, Converters)
}

// Avro reports whether the format is Avro through a schema registry.
func (f Format) Avro() bool { return f == FormatAvro || f == FormatAvroFlat }

// DecimalMode is how DECIMAL columns reach Kafka: Debezium's
// decimal.handling.mode, and for precise mode the JsonConverter's
// decimal.format.
type DecimalMode uint8

// The decimal representations.
const (
	// DecimalPrecise renders DECIMAL as base64 of the big-endian two's
	// complement unscaled value (org.apache.kafka.connect.data.Decimal,
	// decimal.format=BASE64, the JsonConverter's default).
	DecimalPrecise DecimalMode = iota
	// DecimalString renders DECIMAL as a plain string such as "12.34"
	// (decimal.handling.mode=string).
	DecimalString
	// DecimalDouble renders DECIMAL as a JSON number the way Java prints a
	// double, such as 12.3 (decimal.handling.mode=double).
	DecimalDouble
	// DecimalNumeric is precise mode with the JsonConverter's
	// decimal.format=NUMERIC: the schema is precise mode's (bytes,
	// org.apache.kafka.connect.data.Decimal, scale "2"), the value a plain
	// JSON number with the scale's digits, BigDecimal.toString of the
	// value (24.90, 0.00, -5.00), as Jackson writes the converter's exact
	// DecimalNode.
	DecimalNumeric
)

// String names the mode as Debezium's configuration does ("numeric" for
// precise mode with decimal.format=NUMERIC).
func (m DecimalMode) String() string {
	switch m {
	case DecimalPrecise:
		return "precise"
	case DecimalString:
		return "string"
	case DecimalDouble:
		return "double"
	case DecimalNumeric:
		return "numeric"
	}
	return "DecimalMode(" + strconv.Itoa(int(m)) + ")"
}

// TimeMode selects the Debezium logical type used for TIMESTAMP columns.
type TimeMode uint8

// The TIMESTAMP representations.
const (
	TimeMicro TimeMode = iota // io.debezium.time.MicroTimestamp: int64 µs
	TimeMilli                 // io.debezium.time.Timestamp: int64 ms (sub-ms digits are dropped)
	TimeNano                  // io.debezium.time.NanoTimestamp: int64 ns
	TimeZoned                 // io.debezium.time.ZonedTimestamp: ISO-8601 string
)

// String names the logical type.
func (m TimeMode) String() string {
	switch m {
	case TimeMicro:
		return "micro"
	case TimeMilli:
		return "milli"
	case TimeNano:
		return "nano"
	case TimeZoned:
		return "zoned"
	}
	return "TimeMode(" + strconv.Itoa(int(m)) + ")"
}

// DefaultUnavailablePlaceholder is the connector's default
// unavailable.value.placeholder.
const DefaultUnavailablePlaceholder = "__debezium_unavailable_value"

// EncodeOptions configures Encode. The zero value produces what the
// reference samples show: envelope with schema, precise decimals,
// MicroTimestamp, prefix "dbserver1", database "ecommerce".
type EncodeOptions struct {
	Format  Format
	Decimal DecimalMode
	Time    TimeMode
	Prefix  string // topic.prefix; "dbserver1" when empty
	DB      string // database name in source.db; "ecommerce" when empty
	// FlatSequence adds source.sequence to the flattened formats
	// (add.fields=…,source.sequence): a __source_sequence member holding
	// the same string as the envelope's source.sequence (null when the
	// change has no LSN) and an optional string field of that name in the
	// schema. The envelope formats ignore it (they always carry
	// source.sequence).
	FlatSequence bool
	// UnavailablePlaceholder is the connector's
	// unavailable.value.placeholder, rendered for Source.Unavailable
	// columns; DefaultUnavailablePlaceholder when empty.
	UnavailablePlaceholder string
	// Register registers a schema text under a subject ("<topic>-key",
	// "<topic>-value": the TopicNameStrategy) and returns its schema id, as
	// a Schema Registry does. The Avro and JSON Schema formats need it; for
	// the JSON Schema formats the texts are JSON Schemas, to be registered
	// with "schemaType":"JSON".
	Register func(subject, schema string) (int32, error)
}

// Shape names the options' message shape for test names and logs, e.g.
// "flat/numeric/micro+sequence".
func (o EncodeOptions) Shape() string {
	s := o.Format.String() + "/" + o.Decimal.String() + "/" + o.Time.String()
	if o.FlatSequence && o.Format.Flat() {
		s += "+sequence"
	}
	return s
}

func (o EncodeOptions) prefix() string {
	if o.Prefix == "" {
		return "dbserver1"
	}
	return o.Prefix
}

func (o EncodeOptions) db() string {
	if o.DB == "" {
		return "ecommerce"
	}
	return o.DB
}

func (o EncodeOptions) placeholder() string {
	if o.UnavailablePlaceholder == "" {
		return DefaultUnavailablePlaceholder
	}
	return o.UnavailablePlaceholder
}

func (o EncodeOptions) validate() error {
	if o.Format > FormatProtobufFlat {
		return fmt.Errorf("dbzenc: encode: unknown format %d", o.Format)
	}
	if o.Decimal > DecimalNumeric {
		return fmt.Errorf("dbzenc: encode: unknown decimal mode %d", o.Decimal)
	}
	if (o.Format.Avro() || o.Format.JSONSchema() || o.Format.Protobuf()) && o.Register == nil {
		return fmt.Errorf("dbzenc: encode: format %s needs EncodeOptions.Register", o.Format)
	}
	if o.Time > TimeZoned {
		return fmt.Errorf("dbzenc: encode: unknown time mode %d", o.Time)
	}
	return nil
}

// Source is what varies per change besides the rows: the source block's
// position members, the envelope's ts_ms and the TOASTed columns the
// change left alone.
type Source struct {
	// LSN is source.lsn, where the change was written in the WAL; 0
	// renders null (and a null source.sequence, and no __source_lsn).
	LSN uint64
	// TsMs is source.ts_ms: the commit time of the change's transaction in
	// ms, shared by all its changes.
	TsMs int64
	// TxID is source.txId; 0 renders null.
	TxID int64
	// Snapshot renders source.snapshot "true"; op r always does.
	Snapshot bool
	// LastCommitLSN is the first element of source.sequence: the commit LSN
	// of the transaction streamed before this change's; 0 renders null
	// there (snapshot rows, the first streamed transaction).
	LastCommitLSN uint64
	// EventTsMs is the envelope's ts_ms (when the connector processed the
	// change); 0 means TsMs.
	EventTsMs int64
	// Unavailable names text columns of the after image that an update left
	// unchanged while their value is TOASTed (stored out of line): logical
	// decoding does not send such a value, so the connector renders the
	// placeholder instead (EncodeOptions.UnavailablePlaceholder). Only op u
	// may name columns; the before image (REPLICA IDENTITY FULL) keeps the
	// real value.
	Unavailable []string
}

// debeziumVersion is the connector version printed in source.version.
const debeziumVersion = "2.7.3.Final"

// Encode renders one change. before/after are *debezium.Product,
// *debezium.Order or *debezium.OrderItem (nil when absent) matching table.
// r, c and u need after; d needs before. The topic is
// <prefix>.public.<table>. Flat formats add __op, __source_ts_ms,
// __source_db, __source_table, __deleted, __source_lsn when src.LSN != 0
// and __source_sequence with opts.FlatSequence; a flat delete carries the
// old row with __deleted "true".
func Encode(opts EncodeOptions, table string, op debezium.Op, id int64, before, after any, src Source) (topic string, key, value []byte, err error) {
	if err := opts.validate(); err != nil {
		return "", nil, nil, err
	}
	spec := specFor(table)
	if spec == nil {
		return "", nil, nil, fmt.Errorf("dbzenc: encode: unknown table %q", table)
	}
	bv, hasBefore, ok := valuesOf(table, before)
	if !ok {
		return "", nil, nil, fmt.Errorf("dbzenc: encode %s: before is %T, not the %s row type", table, before, table)
	}
	av, hasAfter, ok := valuesOf(table, after)
	if !ok {
		return "", nil, nil, fmt.Errorf("dbzenc: encode %s: after is %T, not the %s row type", table, after, table)
	}
	switch op {
	case debezium.OpRead, debezium.OpCreate, debezium.OpUpdate:
		if !hasAfter {
			return "", nil, nil, fmt.Errorf("dbzenc: encode %s op %s: after row is required", table, op)
		}
	case debezium.OpDelete:
		if !hasBefore {
			return "", nil, nil, fmt.Errorf("dbzenc: encode %s op d: before row is required", table)
		}
	default:
		return "", nil, nil, fmt.Errorf("dbzenc: encode %s: op %q is not r, c, u or d (use EncodeTruncate for t)", table, string(rune(op)))
	}
	unavailable, err := unavailableMask(spec, op, src.Unavailable)
	if err != nil {
		return "", nil, nil, err
	}

	topic = topicName(opts, table)
	if opts.Format.Avro() {
		key, value, err = encodeAvro(opts, spec, op, id, hasBefore, hasAfter, &bv, &av, unavailable, src)
		if err != nil {
			return "", nil, nil, err
		}
		return topic, key, value, nil
	}
	if opts.Format.JSONSchema() {
		key, value, err = encodeJSONSchema(opts, spec, op, id, hasBefore, hasAfter, &bv, &av, unavailable, src)
		if err != nil {
			return "", nil, nil, err
		}
		return topic, key, value, nil
	}
	if opts.Format.Protobuf() {
		key, value, err = encodeProtobuf(opts, spec, op, id, hasBefore, hasAfter, &bv, &av, unavailable, src)
		if err != nil {
			return "", nil, nil, err
		}
		return topic, key, value, nil
	}
	key = appendKey(make([]byte, 0, 256), opts, table, id)

	if opts.Format.Flat() {
		buf := make([]byte, 0, 2048)
		row, mask, deleted := &av, unavailable, "false"
		if op == debezium.OpDelete {
			row, mask, deleted = &bv, 0, "true"
		}
		if opts.Format.WithSchema() {
			buf = append(buf, `{"schema":`...)
			buf = appendFlatSchema(buf, opts, spec, src.LSN != 0)
			buf = append(buf, `,"payload":`...)
		}
		buf, err = appendFlatPayload(buf, opts, spec, op, row, mask, deleted, src)
		if err != nil {
			return "", nil, nil, err
		}
		if opts.Format.WithSchema() {
			buf = append(buf, '}')
		}
		return topic, key, buf, nil
	}

	var bp, ap *rowValues
	if hasBefore {
		bp = &bv
	}
	if hasAfter {
		ap = &av
	}
	value, err = appendEnvelopeValue(make([]byte, 0, 3072), opts, spec, op, bp, ap, unavailable, src)
	if err != nil {
		return "", nil, nil, err
	}
	return topic, key, value, nil
}

// EncodeTombstone renders the tombstone Debezium sends after a delete: the
// key of the deleted row with a null value (the returned value is nil).
// For the Avro formats the key is nil when the registration fails
// (EncodeKey returns the error).
func EncodeTombstone(opts EncodeOptions, table string, id int64) (topic string, key []byte) {
	topic, key, _ = EncodeKey(opts, table, id)
	return topic, key
}

// EncodeKey renders the record key of a row of table: {"id":N} in JSON
// (with the key schema when the format has the schema wrapper), or the
// framed Avro <prefix>.public.<table>.Key record.
func EncodeKey(opts EncodeOptions, table string, id int64) (topic string, key []byte, err error) {
	if err := opts.validate(); err != nil {
		return "", nil, err
	}
	spec := specFor(table)
	if spec == nil {
		return "", nil, fmt.Errorf("dbzenc: encode key: unknown table %q", table)
	}
	topic = topicName(opts, table)
	if opts.Format.Avro() {
		key, err = encodeAvroKey(opts, spec, id)
		return topic, key, err
	}
	if opts.Format.JSONSchema() {
		key, err = encodeJSONSchemaKey(opts, spec, id)
		return topic, key, err
	}
	if opts.Format.Protobuf() {
		key, err = encodeProtobufKey(opts, spec, id)
		return topic, key, err
	}
	return topic, appendKey(make([]byte, 0, 256), opts, table, id), nil
}

// EncodeTruncate renders a truncate event (op "t": no rows, null key).
// ExtractNewRecordState drops truncate events, so the flat formats render
// the unflattened envelope (with or without schema) that reaches a consumer
// when the SMT does not apply.
func EncodeTruncate(opts EncodeOptions, table string, src Source) (topic string, value []byte, err error) {
	if err := opts.validate(); err != nil {
		return "", nil, err
	}
	spec := specFor(table)
	if spec == nil {
		return "", nil, fmt.Errorf("dbzenc: encode truncate: unknown table %q", table)
	}
	if len(src.Unavailable) > 0 {
		return "", nil, fmt.Errorf("dbzenc: encode truncate: unavailable columns %v on a truncate", src.Unavailable)
	}
	if opts.Format.Avro() {
		value, err = encodeAvroTruncate(opts, spec, src)
	} else if opts.Format.JSONSchema() {
		value, err = encodeJSONSchemaTruncate(opts, spec, src)
	} else if opts.Format.Protobuf() {
		value, err = encodeProtobufTruncate(opts, spec, src)
	} else {
		value, err = appendEnvelopeValue(make([]byte, 0, 3072), opts, spec, debezium.OpTruncate, nil, nil, 0, src)
	}
	if err != nil {
		return "", nil, err
	}
	return topicName(opts, table), value, nil
}

// unavailableMask checks Source.Unavailable and returns it as a bit set of
// column indexes.
func unavailableMask(spec *tableSpec, op debezium.Op, names []string) (uint32, error) {
	if len(names) == 0 {
		return 0, nil
	}
	if op != debezium.OpUpdate {
		return 0, fmt.Errorf("dbzenc: encode %s op %s: unavailable columns %v on a change that is not an update", spec.name, op, names)
	}
	var mask uint32
	for _, n := range names {
		ci := slices.IndexFunc(spec.cols, func(c columnSpec) bool { return c.name == n })
		if ci < 0 {
			return 0, fmt.Errorf("dbzenc: encode %s: unavailable column %q is not a column of the table", spec.name, n)
		}
		if spec.cols[ci].kind != vText {
			return 0, fmt.Errorf("dbzenc: encode %s: unavailable column %q is not a text column (only those are TOASTed here)", spec.name, n)
		}
		mask |= 1 << ci
	}
	return mask, nil
}

func topicName(opts EncodeOptions, table string) string {
	return opts.prefix() + ".public." + table
}

// appendKey renders the record key {"id":N}, with the key schema when the
// format has one.
func appendKey(buf []byte, opts EncodeOptions, table string, id int64) []byte {
	if !opts.Format.WithSchema() {
		buf = append(buf, `{"id":`...)
		buf = strconv.AppendInt(buf, id, 10)
		return append(buf, '}')
	}
	buf = append(buf, `{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"default":0,"field":"id"}],"optional":false,"name":`...)
	buf = appendJSONString(buf, opts.prefix()+".public."+table+".Key")
	buf = append(buf, `},"payload":{"id":`...)
	buf = strconv.AppendInt(buf, id, 10)
	return append(buf, `}}`...)
}

// appendEnvelopeValue renders a full envelope (op r/c/u/d/t) with or without
// the schema wrapper according to opts.Format (flat formats: with schema for
// FormatFlat, without for FormatFlatNoSchema). unavailable applies to the
// after image.
func appendEnvelopeValue(buf []byte, opts EncodeOptions, spec *tableSpec, op debezium.Op, before, after *rowValues, unavailable uint32, src Source) ([]byte, error) {
	schema := opts.Format.WithSchema()
	if schema {
		buf = append(buf, `{"schema":`...)
		buf = appendEnvelopeSchema(buf, opts, spec)
		buf = append(buf, `,"payload":`...)
	}
	var err error
	buf = append(buf, `{"before":`...)
	if buf, err = appendRowOrNull(buf, opts, spec, before, 0); err != nil {
		return nil, err
	}
	buf = append(buf, `,"after":`...)
	if buf, err = appendRowOrNull(buf, opts, spec, after, unavailable); err != nil {
		return nil, err
	}
	buf = append(buf, `,"source":`...)
	buf = appendSource(buf, opts, spec, op, src)
	buf = append(buf, `,"op":"`...)
	buf = append(buf, byte(op))
	buf = append(buf, `","ts_ms":`...)
	ts := src.EventTsMs
	if ts == 0 {
		ts = src.TsMs
	}
	buf = strconv.AppendInt(buf, ts, 10)
	buf = append(buf, `,"transaction":null}`...)
	if schema {
		buf = append(buf, '}')
	}
	return buf, nil
}

func appendRowOrNull(buf []byte, opts EncodeOptions, spec *tableSpec, row *rowValues, unavailable uint32) ([]byte, error) {
	if row == nil {
		return append(buf, "null"...), nil
	}
	buf = append(buf, '{')
	buf, err := appendRowFields(buf, opts, spec, row, unavailable)
	if err != nil {
		return nil, err
	}
	return append(buf, '}'), nil
}

// appendRowFields renders the columns of a row as object members, without
// the braces; the columns in unavailable carry the placeholder.
func appendRowFields(buf []byte, opts EncodeOptions, spec *tableSpec, row *rowValues, unavailable uint32) ([]byte, error) {
	for ci, col := range spec.cols {
		if ci > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, '"')
		buf = append(buf, col.name...)
		buf = append(buf, `":`...)
		v := row[ci]
		if unavailable&(1<<ci) != 0 {
			buf = appendJSONString(buf, opts.placeholder())
			continue
		}
		if col.zeroIsNull && v.num == 0 && v.text == "" {
			buf = append(buf, "null"...)
			continue
		}
		switch col.kind {
		case vInt:
			buf = strconv.AppendInt(buf, v.num, 10)
		case vText:
			buf = appendJSONString(buf, v.text)
		case vMoney:
			buf = appendMoney(buf, opts.Decimal, v.num)
		case vTime:
			var err error
			buf, err = appendTime(buf, opts.Time, v.num)
			if err != nil {
				return nil, fmt.Errorf("dbzenc: encode %s.%s: %w", spec.name, col.name, err)
			}
		}
	}
	return buf, nil
}

func appendFlatPayload(buf []byte, opts EncodeOptions, spec *tableSpec, op debezium.Op, row *rowValues, unavailable uint32, deleted string, src Source) ([]byte, error) {
	buf = append(buf, '{')
	buf, err := appendRowFields(buf, opts, spec, row, unavailable)
	if err != nil {
		return nil, err
	}
	buf = append(buf, `,"__op":"`...)
	buf = append(buf, byte(op))
	buf = append(buf, `","__source_ts_ms":`...)
	buf = strconv.AppendInt(buf, src.TsMs, 10)
	buf = append(buf, `,"__source_db":`...)
	buf = appendJSONString(buf, opts.db())
	buf = append(buf, `,"__source_table":`...)
	buf = appendJSONString(buf, spec.name)
	if src.LSN != 0 {
		buf = append(buf, `,"__source_lsn":`...)
		buf = strconv.AppendUint(buf, src.LSN, 10)
	}
	if opts.FlatSequence {
		buf = append(buf, `,"__source_sequence":`...)
		buf = appendSequence(buf, src)
	}
	buf = append(buf, `,"__deleted":"`...)
	buf = append(buf, deleted...)
	return append(buf, `"}`...), nil
}

// appendSequence renders source.sequence: null without an LSN, else a JSON
// array printed into a JSON string, "[\"<last commit lsn>\",\"<lsn>\"]",
// with null for a zero last commit LSN.
func appendSequence(buf []byte, src Source) []byte {
	if src.LSN == 0 {
		return append(buf, "null"...)
	}
	buf = append(buf, `"[`...)
	if src.LastCommitLSN == 0 {
		buf = append(buf, "null"...)
	} else {
		buf = append(buf, `\"`...)
		buf = strconv.AppendUint(buf, src.LastCommitLSN, 10)
		buf = append(buf, `\"`...)
	}
	buf = append(buf, `,\"`...)
	buf = strconv.AppendUint(buf, src.LSN, 10)
	return append(buf, `\"]"`...)
}

func appendSource(buf []byte, opts EncodeOptions, spec *tableSpec, op debezium.Op, src Source) []byte {
	buf = append(buf, `{"version":"`+debeziumVersion+`","connector":"postgresql","name":`...)
	buf = appendJSONString(buf, opts.prefix())
	buf = append(buf, `,"ts_ms":`...)
	buf = strconv.AppendInt(buf, src.TsMs, 10)
	if src.Snapshot || op == debezium.OpRead {
		buf = append(buf, `,"snapshot":"true","db":`...)
	} else {
		buf = append(buf, `,"snapshot":"false","db":`...)
	}
	buf = appendJSONString(buf, opts.db())
	buf = append(buf, `,"sequence":`...)
	buf = appendSequence(buf, src)
	buf = append(buf, `,"schema":"public","table":`...)
	buf = appendJSONString(buf, spec.name)
	buf = append(buf, `,"txId":`...)
	if src.TxID == 0 {
		buf = append(buf, "null"...)
	} else {
		buf = strconv.AppendInt(buf, src.TxID, 10)
	}
	buf = append(buf, `,"lsn":`...)
	if src.LSN == 0 {
		buf = append(buf, "null"...)
	} else {
		buf = strconv.AppendUint(buf, src.LSN, 10)
	}
	return append(buf, `,"xmin":null}`...)
}

// Schema fragments of the PostgreSQL connector that do not vary (from the
// reference envelope samples).
const (
	sourceSchema = `{"type":"struct","fields":[` +
		`{"type":"string","optional":false,"field":"version"},` +
		`{"type":"string","optional":false,"field":"connector"},` +
		`{"type":"string","optional":false,"field":"name"},` +
		`{"type":"int64","optional":false,"field":"ts_ms"},` +
		`{"type":"string","optional":true,"name":"io.debezium.data.Enum","version":1,"parameters":{"allowed":"true,last,false,incremental"},"default":"false","field":"snapshot"},` +
		`{"type":"string","optional":false,"field":"db"},` +
		`{"type":"string","optional":true,"field":"sequence"},` +
		`{"type":"string","optional":false,"field":"schema"},` +
		`{"type":"string","optional":false,"field":"table"},` +
		`{"type":"int64","optional":true,"field":"txId"},` +
		`{"type":"int64","optional":true,"field":"lsn"},` +
		`{"type":"int64","optional":true,"field":"xmin"}` +
		`],"optional":false,"name":"io.debezium.connector.postgresql.Source","field":"source"}`
	transactionSchema = `{"type":"struct","fields":[` +
		`{"type":"string","optional":false,"field":"id"},` +
		`{"type":"int64","optional":false,"field":"total_order"},` +
		`{"type":"int64","optional":false,"field":"data_collection_order"}` +
		`],"optional":true,"name":"event.block","version":1,"field":"transaction"}`
)

func appendEnvelopeSchema(buf []byte, opts EncodeOptions, spec *tableSpec) []byte {
	valueName := opts.prefix() + ".public." + spec.name
	buf = append(buf, `{"type":"struct","fields":[`...)
	for i, field := range [2]string{"before", "after"} {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"type":"struct","fields":[`...)
		buf = appendColumnSchemas(buf, opts, spec)
		buf = append(buf, `],"optional":true,"name":`...)
		buf = appendJSONString(buf, valueName+".Value")
		buf = append(buf, `,"field":"`...)
		buf = append(buf, field...)
		buf = append(buf, `"}`...)
	}
	buf = append(buf, ',')
	buf = append(buf, sourceSchema...)
	buf = append(buf, `,{"type":"string","optional":false,"field":"op"},{"type":"int64","optional":true,"field":"ts_ms"},`...)
	buf = append(buf, transactionSchema...)
	buf = append(buf, `],"optional":false,"name":`...)
	buf = appendJSONString(buf, valueName+".Envelope")
	return append(buf, `,"version":2}`...)
}

func appendFlatSchema(buf []byte, opts EncodeOptions, spec *tableSpec, withLSN bool) []byte {
	buf = append(buf, `{"type":"struct","fields":[`...)
	buf = appendColumnSchemas(buf, opts, spec)
	buf = append(buf, `,{"type":"string","optional":true,"field":"__op"},{"type":"int64","optional":true,"field":"__source_ts_ms"},{"type":"string","optional":true,"field":"__source_db"},{"type":"string","optional":true,"field":"__source_table"},`...)
	if withLSN {
		buf = append(buf, `{"type":"int64","optional":true,"field":"__source_lsn"},`...)
	}
	if opts.FlatSequence {
		buf = append(buf, `{"type":"string","optional":true,"field":"__source_sequence"},`...)
	}
	buf = append(buf, `{"type":"string","optional":true,"field":"__deleted"}],"optional":false,"name":`...)
	buf = appendJSONString(buf, opts.prefix()+".public."+spec.name+".Value")
	return append(buf, '}')
}

func appendColumnSchemas(buf []byte, opts EncodeOptions, spec *tableSpec) []byte {
	for ci, col := range spec.cols {
		if ci > 0 {
			buf = append(buf, ',')
		}
		var typ, name, params string
		switch col.kind {
		case vInt:
			typ = "int32"
		case vText:
			typ = "string"
		case vMoney:
			switch opts.Decimal {
			case DecimalPrecise, DecimalNumeric:
				// decimal.format only changes the value, not the schema.
				typ, name = "bytes", "org.apache.kafka.connect.data.Decimal"
				params = `{"scale":"2","connect.decimal.precision":"10"}`
			case DecimalString:
				typ = "string"
			case DecimalDouble:
				typ = "double"
			}
		case vTime:
			switch opts.Time {
			case TimeMicro:
				typ, name = "int64", "io.debezium.time.MicroTimestamp"
			case TimeMilli:
				typ, name = "int64", "io.debezium.time.Timestamp"
			case TimeNano:
				typ, name = "int64", "io.debezium.time.NanoTimestamp"
			case TimeZoned:
				typ, name = "string", "io.debezium.time.ZonedTimestamp"
			}
		}
		buf = append(buf, `{"type":"`...)
		buf = append(buf, typ...)
		buf = append(buf, `","optional":`...)
		buf = strconv.AppendBool(buf, col.optional)
		if name != "" {
			buf = append(buf, `,"name":"`...)
			buf = append(buf, name...)
			buf = append(buf, `","version":1`...)
		}
		if params != "" {
			buf = append(buf, `,"parameters":`...)
			buf = append(buf, params...)
		}
		if col.primaryKey {
			buf = append(buf, `,"default":0`...)
		}
		buf = append(buf, `,"field":"`...)
		buf = append(buf, col.name...)
		buf = append(buf, `"}`...)
	}
	return buf
}

// appendMoney renders cents in the given decimal mode (scale 2).
func appendMoney(buf []byte, mode DecimalMode, cents int64) []byte {
	switch mode {
	case DecimalString:
		buf = append(buf, '"')
		buf = appendCentsPlain(buf, cents)
		return append(buf, '"')
	case DecimalDouble:
		return appendCentsJavaDouble(buf, cents)
	case DecimalNumeric:
		// BigDecimal.toString of an unscaled value with scale 2 never uses
		// exponent notation (the adjusted exponent is at least -2), so it
		// is the plain form with both digits.
		return appendCentsPlain(buf, cents)
	default:
		buf = append(buf, '"')
		buf = appendBase64TwosComplement(buf, cents)
		return append(buf, '"')
	}
}

// magnitude returns the absolute value of c without overflow for MinInt64.
func magnitude(c int64) (neg bool, mag uint64) {
	if c < 0 {
		return true, uint64(-(c + 1)) + 1
	}
	return false, uint64(c)
}

// appendCentsPlain renders cents as BigDecimal.toPlainString with scale 2:
// "-12.30", "0.00".
func appendCentsPlain(buf []byte, cents int64) []byte {
	neg, mag := magnitude(cents)
	if neg {
		buf = append(buf, '-')
	}
	buf = strconv.AppendUint(buf, mag/100, 10)
	frac := mag % 100
	return append(buf, '.', byte('0'+frac/10), byte('0'+frac%10))
}

// appendCentsJavaDouble renders cents/100 the way Java's Double.toString
// prints the nearest double (what Jackson emits in decimal.handling.mode=
// double): "12.3", "0.0", "1.2345678E7". For up to 15 significant digits the
// shortest round-tripping form is the decimal itself, so no float is needed.
func appendCentsJavaDouble(buf []byte, cents int64) []byte {
	neg, mag := magnitude(cents)
	if neg {
		buf = append(buf, '-')
	}
	if mag == 0 {
		return append(buf, "0.0"...)
	}
	if mag < 1_000_000_000 { // below 1e7: plain notation
		buf = strconv.AppendUint(buf, mag/100, 10)
		buf = append(buf, '.')
		frac := mag % 100
		switch {
		case frac == 0:
			return append(buf, '0')
		case frac%10 == 0:
			return append(buf, byte('0'+frac/10))
		default:
			return append(buf, byte('0'+frac/10), byte('0'+frac%10))
		}
	}
	// Computerized scientific notation: d.dddE<exp>.
	var digits [20]byte
	d := strconv.AppendUint(digits[:0], mag, 10)
	exp := len(d) - 3 // value = mag * 10^-2
	end := len(d)
	for end > 1 && d[end-1] == '0' {
		end--
	}
	buf = append(buf, d[0], '.')
	if end == 1 {
		buf = append(buf, '0')
	} else {
		buf = append(buf, d[1:end]...)
	}
	buf = append(buf, 'E')
	return strconv.AppendInt(buf, int64(exp), 10)
}

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// appendBase64TwosComplement renders v as Java's BigInteger.toByteArray
// (minimal big-endian two's complement, at least one byte), base64 with
// padding, as Kafka Connect's Decimal does.
func appendBase64TwosComplement(buf []byte, v int64) []byte {
	var raw [8]byte
	for i := 0; i < 8; i++ {
		raw[i] = byte(uint64(v) >> (56 - 8*i))
	}
	start := 0
	for start < 7 {
		// A leading byte is redundant when it is pure sign extension of the
		// next byte's top bit.
		if (raw[start] == 0x00 && raw[start+1]&0x80 == 0) || (raw[start] == 0xff && raw[start+1]&0x80 != 0) {
			start++
			continue
		}
		break
	}
	src := raw[start:]
	for len(src) >= 3 {
		n := uint(src[0])<<16 | uint(src[1])<<8 | uint(src[2])
		buf = append(buf, b64Alphabet[n>>18&63], b64Alphabet[n>>12&63], b64Alphabet[n>>6&63], b64Alphabet[n&63])
		src = src[3:]
	}
	switch len(src) {
	case 2:
		n := uint(src[0])<<16 | uint(src[1])<<8
		buf = append(buf, b64Alphabet[n>>18&63], b64Alphabet[n>>12&63], b64Alphabet[n>>6&63], '=')
	case 1:
		n := uint(src[0]) << 16
		buf = append(buf, b64Alphabet[n>>18&63], b64Alphabet[n>>12&63], '=', '=')
	}
	return buf
}

// appendTime renders a TIMESTAMP given in µs since the epoch (the caller
// renders 0, NULL, as null).
func appendTime(buf []byte, mode TimeMode, us int64) ([]byte, error) {
	switch mode {
	case TimeMilli:
		return strconv.AppendInt(buf, floorDiv(us, 1000), 10), nil
	case TimeNano:
		const limit = (1<<63 - 1) / 1000
		if us > limit || us < -limit {
			return nil, fmt.Errorf("timestamp %d µs overflows int64 nanoseconds", us)
		}
		return strconv.AppendInt(buf, us*1000, 10), nil
	case TimeZoned:
		buf = append(buf, '"')
		buf = time.UnixMicro(us).UTC().AppendFormat(buf, "2006-01-02T15:04:05.999999Z07:00")
		return append(buf, '"'), nil
	default:
		return strconv.AppendInt(buf, us, 10), nil
	}
}

// floorDiv divides rounding toward negative infinity (d > 0).
func floorDiv(a, d int64) int64 {
	q := a / d
	if a%d < 0 {
		q--
	}
	return q
}

// appendJSONString renders s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// as with encoding/json.
func appendJSONString(buf []byte, s string) []byte {
	const hex = "0123456789abcdef"
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch c {
			case '"', '\\':
				buf = append(buf, '\\', c)
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}
