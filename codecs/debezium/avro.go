package debezium

// Debezium records serialized by Confluent's AvroConverter
// (io.confluent.connect.avro.AvroConverter). The converter maps the
// connector's Connect schemas to Avro (AvroData.fromConnectSchema): a struct
// becomes a record named after the Connect name (namespace up to its last
// dot), an optional schema a union [null, T] ([T, null] when it has a
// non-null default, as source.snapshot has), and every named Connect type
// keeps its name in the "connect.name" property, with "connect.version" and
// "connect.parameters". Decimal is bytes with logicalType decimal, scale and
// precision; the Connect Timestamp adds logicalType timestamp-millis;
// Debezium's own logical types (MicroTimestamp, ZonedTimestamp,
// VariableScaleDecimal ...) are known by connect.name alone.
//
// The decoder reads the Avro binary straight into the same payloadState the
// JSON decoder fills: scalar members of the payload are decoded in one pass,
// row images are kept as spans of the binary and decoded by build once the
// table is known, through the same row state (rowParse) and the same rules
// (required columns, TOAST placeholder, positions, ids) as JSON rows.

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"

	"github.com/hamba/avro/v2"
)

// avroKind is an Avro schema type.
type avroKind uint8

const (
	akNull avroKind = iota
	akBoolean
	akInt
	akLong
	akFloat
	akDouble
	akBytes
	akString
	akRecord
	akEnum
	akArray
	akMap
	akUnion
	akFixed
)

var avroKindNames = [...]string{"null", "boolean", "int", "long", "float", "double", "bytes", "string", "record", "enum", "array", "map", "union", "fixed"}

func (k avroKind) String() string {
	if int(k) < len(avroKindNames) {
		return avroKindNames[k]
	}
	return "Avro type " + strconv.Itoa(int(k))
}

// avroNode is one compiled Avro schema node: what reading and skipping
// need, and for column values what the decoder needs to know about their
// representation.
type avroNode struct {
	kind     avroKind
	name     string      // full name of a named type
	fields   []avroField // record
	branches []*avroNode // union
	items    *avroNode   // array items, map values
	size     int         // fixed
	nsym     int         // enum symbols
	// col is the column representation announced by logical types and
	// Connect properties (connect.name, connect.parameters).
	col colSchema
	// variable marks io.debezium.data.VariableScaleDecimal records.
	variable bool
}

// avroField is one field of a record, with its meanings precomputed.
type avroField struct {
	name    string
	key     []byte // name as bytes (flat column members)
	srcPath string // "source.<name>", for errors in the source record
	node    *avroNode
	payload payloadField    // as a member of a payload record
	source  sourceField     // as a member of the source record
	cols    [numTables]int8 // column index per table, -1 when none
}

// AvroSchema is a parsed Avro writer schema (as registered in a Schema
// Registry) compiled for decoding. It is immutable and safe for concurrent
// use; parse each schema once and cache it by its registry id.
type AvroSchema struct {
	root *avroNode
}

// ParseAvroSchema parses and compiles the text of an Avro schema (as a
// Schema Registry returns it for an id). An unusable schema gives a
// *DecodeError with Field "schema", as an unusable Connect schema does.
func ParseAvroSchema(text string) (sch *AvroSchema, err error) {
	defer func() {
		// The registry's answer is input too: a parser panic on a hostile
		// schema is an error, not a crash.
		if r := recover(); r != nil {
			sch, err = nil, &DecodeError{Field: "schema", Reason: fmt.Sprintf("unusable Avro schema: %v", r)}
		}
	}()
	// A private cache: named types must not leak between schemas (two
	// versions of dbserver1.public.products.Value differ).
	s, perr := avro.ParseWithCache(text, "", &avro.SchemaCache{})
	if perr != nil {
		return nil, &DecodeError{Field: "schema", Reason: "unusable Avro schema: " + perr.Error()}
	}
	c := avroCompiler{named: map[string]*avroNode{}}
	return &AvroSchema{root: c.compile(s)}, nil
}

type avroCompiler struct {
	named map[string]*avroNode // records by full name (recursion)
}

func (c *avroCompiler) compile(s avro.Schema) *avroNode {
	switch t := s.(type) {
	case *avro.RefSchema:
		return c.compile(t.Schema())
	case *avro.RecordSchema:
		if n, ok := c.named[t.FullName()]; ok {
			return n
		}
		n := &avroNode{kind: akRecord, name: t.FullName()}
		c.named[t.FullName()] = n
		n.fields = make([]avroField, len(t.Fields()))
		for i, f := range t.Fields() {
			name := []byte(f.Name())
			af := avroField{name: f.Name(), key: name, srcPath: "source." + f.Name(), node: c.compile(f.Type()),
				payload: payloadFieldOf(name), source: sourceFieldOf(name)}
			for ti := range numTables {
				af.cols[ti] = int8(columnIndex(ti, name))
			}
			n.fields[i] = af
		}
		n.col = avroColSchema(t)
		if n.name == "io.debezium.data.VariableScaleDecimal" || n.col.dec == decVariable {
			n.variable = true
			n.col.dec = decVariable
		}
		return n
	case *avro.UnionSchema:
		n := &avroNode{kind: akUnion}
		for _, b := range t.Types() {
			n.branches = append(n.branches, c.compile(b))
		}
		return n
	case *avro.ArraySchema:
		return &avroNode{kind: akArray, items: c.compile(t.Items())}
	case *avro.MapSchema:
		return &avroNode{kind: akMap, items: c.compile(t.Values())}
	case *avro.EnumSchema:
		return &avroNode{kind: akEnum, name: t.FullName(), nsym: len(t.Symbols())}
	case *avro.FixedSchema:
		return &avroNode{kind: akFixed, name: t.FullName(), size: t.Size(), col: avroColSchema(t)}
	case *avro.PrimitiveSchema:
		n := &avroNode{col: avroColSchema(t)}
		switch t.Type() {
		case avro.Null:
			n.kind = akNull
		case avro.Boolean:
			n.kind = akBoolean
		case avro.Int:
			n.kind = akInt
		case avro.Long:
			n.kind = akLong
		case avro.Float:
			n.kind = akFloat
		case avro.Double:
			n.kind = akDouble
		case avro.Bytes:
			n.kind = akBytes
		case avro.String:
			n.kind = akString
		}
		return n
	}
	// hamba/avro has no other schema types; a null node reads nothing.
	return &avroNode{kind: akNull}
}

// avroColSchema describes a column value's representation from its schema's
// logical type and the Connect properties AvroData writes.
func avroColSchema(s avro.Schema) colSchema {
	var cs colSchema
	ps, ok := s.(avro.PropertySchema)
	if !ok {
		return cs
	}
	name, _ := ps.Prop("connect.name").(string)
	cs = connectColumn(name)
	if ls, ok := s.(avro.LogicalTypeSchema); ok && ls.Logical() != nil {
		switch l := ls.Logical().(type) {
		case *avro.DecimalLogicalSchema:
			cs.dec, cs.hasScale, cs.scale = decBytes, true, int32(l.Scale())
		default:
			switch l.Type() {
			case avro.TimestampMillis:
				if cs.time == tuUnknown {
					cs.time = tuMilli
				}
			case avro.TimestampMicros:
				if cs.time == tuUnknown {
					cs.time = tuMicro
				}
			}
		}
	}
	if cs.dec == decBytes && !cs.hasScale {
		// A decimal hamba/avro did not accept as a logical type (AvroData's
		// legacy form for a scale beyond the precision): the "scale"
		// property, else the Connect parameter.
		if sc, ok := propScale(ps.Prop("scale")); ok {
			cs.hasScale, cs.scale = true, sc
		} else if params, ok := ps.Prop("connect.parameters").(map[string]any); ok {
			if sc, ok := propScale(params["scale"]); ok {
				cs.hasScale, cs.scale = true, sc
			}
		}
	}
	return cs
}

// propScale reads a scale property: a JSON number or a decimal string.
func propScale(v any) (int32, bool) {
	switch x := v.(type) {
	case float64:
		if x == math.Trunc(x) && x >= math.MinInt32 && x <= math.MaxInt32 {
			return int32(x), true
		}
	case string:
		if n, err := strconv.ParseInt(x, 10, 32); err == nil {
			return int32(n), true
		}
	}
	return 0, false
}

// maxAvroDepth bounds the nesting of values read or skipped, so that a
// recursive schema and hostile data cannot exhaust the stack.
const maxAvroDepth = 64

// avroReader reads Avro binary. Every read checks the bounds; a failed
// read leaves ok false and the caller reports where.
type avroReader struct {
	data []byte
	pos  int
}

// long reads a zigzag varint (int and long share the encoding).
func (r *avroReader) long() (int64, bool) {
	var u uint64
	for shift := uint(0); shift < 70; shift += 7 {
		if r.pos >= len(r.data) {
			return 0, false
		}
		b := r.data[r.pos]
		r.pos++
		if shift == 63 && b > 1 {
			return 0, false // more than 64 bits
		}
		u |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return int64(u>>1) ^ -int64(u&1), true
		}
	}
	return 0, false
}

// int reads an Avro int: a long in the int32 range.
func (r *avroReader) int() (int64, bool) {
	x, ok := r.long()
	return x, ok && x >= math.MinInt32 && x <= math.MaxInt32
}

// bytes reads length-prefixed bytes (bytes, string): a subslice of data.
func (r *avroReader) bytes() ([]byte, bool) {
	n, ok := r.long()
	if !ok || n < 0 || n > int64(len(r.data)-r.pos) {
		return nil, false
	}
	b := r.data[r.pos : r.pos+int(n)]
	r.pos += int(n)
	return b, true
}

// fixed reads n bytes.
func (r *avroReader) fixed(n int) ([]byte, bool) {
	if n > len(r.data)-r.pos {
		return nil, false
	}
	b := r.data[r.pos : r.pos+n]
	r.pos += n
	return b, true
}

// branch resolves a union: it reads the branch index and returns the
// branch's node. Any other node is returned as it is.
func (r *avroReader) branch(n *avroNode) (*avroNode, bool) {
	if n.kind != akUnion {
		return n, true
	}
	i, ok := r.long()
	if !ok || i < 0 || i >= int64(len(n.branches)) {
		return nil, false
	}
	return n.branches[i], true
}

// skip reads past one value of n.
func (r *avroReader) skip(n *avroNode, depth int) bool {
	if depth > maxAvroDepth {
		return false
	}
	switch n.kind {
	case akNull:
		return true
	case akBoolean:
		_, ok := r.fixed(1)
		return ok
	case akInt, akLong, akEnum:
		_, ok := r.long()
		return ok
	case akFloat:
		_, ok := r.fixed(4)
		return ok
	case akDouble:
		_, ok := r.fixed(8)
		return ok
	case akBytes, akString:
		_, ok := r.bytes()
		return ok
	case akFixed:
		_, ok := r.fixed(n.size)
		return ok
	case akRecord:
		for i := range n.fields {
			if !r.skip(n.fields[i].node, depth+1) {
				return false
			}
		}
		return true
	case akUnion:
		b, ok := r.branch(n)
		return ok && r.skip(b, depth+1)
	case akArray, akMap:
		for {
			count, ok := r.long()
			if !ok {
				return false
			}
			if count == 0 {
				return true
			}
			if count < 0 {
				// A negative count is followed by the block's size in bytes.
				if count == math.MinInt64 {
					return false
				}
				count = -count
				if _, ok := r.long(); !ok {
					return false
				}
			}
			// Items of zero bytes (nulls) could make a huge count loop for
			// long: no block may announce more items than bytes remain.
			if count > int64(len(r.data)-r.pos) {
				return false
			}
			for ; count > 0; count-- {
				if n.kind == akMap {
					if _, ok := r.bytes(); !ok {
						return false
					}
				}
				if !r.skip(n.items, depth+1) {
					return false
				}
			}
		}
	}
	return false
}

// avroString reads a string (or bytes) value.
func (r *avroReader) str(n *avroNode) ([]byte, bool) {
	if n.kind != akString && n.kind != akBytes {
		return nil, false
	}
	return r.bytes()
}

// avroMalformed reports Avro data that ends early or does not match the
// schema at field.
func avroMalformed(field string) *DecodeError {
	if field == "" {
		return &DecodeError{Reason: "Avro data ends early or does not match its schema"}
	}
	return &DecodeError{Field: field, Reason: "Avro data ends early or does not match its schema"}
}

// avroTypeError reports a value whose Avro type is not the one expected.
func avroTypeError(field, expected string, got *avroNode) *DecodeError {
	return &DecodeError{Field: field, Expected: expected, Got: "Avro " + got.kind.String()}
}

// DecodeAvro decodes a Debezium record serialized by Confluent's
// AvroConverter into the Message Decode gives for the same change in JSON.
// key and value are the payloads after the Confluent framing (see
// codecs/confluent); keySchema and valueSchema are their writer schemas.
// keySchema nil means the key is not Avro (a JSON key, or none); an empty
// value is a tombstone. Both shapes are read: the change envelope
// (before, after, source, op, ts_ms, transaction) and the
// ExtractNewRecordState record (the columns plus __op, __source_ts_ms,
// __source_table, __lsn or __source_lsn, __source_sequence or __sequence,
// __deleted). Errors are *DecodeErrors naming the Avro field path
// ("after.price", "source.lsn", "__op"). DecodeAvro is safe for concurrent
// use and does not retain key or value.
func (d *Decoder) DecodeAvro(topic string, key []byte, keySchema *AvroSchema, value []byte, valueSchema *AvroSchema) (Message, error) {
	keyID, hasKeyID := d.avroKeyID(topic, key, keySchema)
	if len(value) == 0 {
		return tombstoneMessage(topic, keyID, hasKeyID), nil
	}
	if valueSchema == nil || valueSchema.root == nil {
		return Message{}, &DecodeError{Reason: "Avro value without a writer schema"}
	}
	var p payloadState
	null, err := p.readAvro(value, valueSchema.root)
	if err != nil {
		return Message{}, err
	}
	if null {
		return tombstoneMessage(topic, keyID, hasKeyID), nil
	}
	if p.err != nil {
		return Message{}, p.err
	}
	return d.build(topic, keyID, hasKeyID, &p, nil)
}

// avroKeyID reads the entity id from an Avro key: a record with an int or
// long "id" field (Debezium's <prefix>.<schema>.<table>.Key), or a bare
// int or long. Without a key schema the key is read as JSON.
func (d *Decoder) avroKeyID(topic string, key []byte, keySchema *AvroSchema) (int64, bool) {
	if keySchema == nil || keySchema.root == nil {
		return d.keyID(topic, key)
	}
	r := avroReader{data: key}
	n, ok := r.branch(keySchema.root)
	if !ok {
		return 0, false
	}
	var id int64
	found := false
	switch n.kind {
	case akInt, akLong:
		id, found = r.long()
	case akRecord:
		for i := range n.fields {
			f := &n.fields[i]
			if f.name == "id" {
				b, ok := r.branch(f.node)
				if !ok {
					return 0, false
				}
				if b.kind == akInt || b.kind == akLong {
					if id, ok = r.long(); !ok {
						return 0, false
					}
					found = true
					continue
				}
				if !r.skip(b, 1) {
					return 0, false
				}
				continue
			}
			if !r.skip(f.node, 1) {
				return 0, false
			}
		}
	}
	if !found || r.pos != len(r.data) {
		return 0, false
	}
	return id, true
}

// readAvro reads an Avro payload record into p: the members that are not
// row images are decoded, row images (envelope before/after, flat columns)
// are kept as spans with their schema nodes. null reports a null value
// (a union's null branch at the top): a tombstone.
func (p *payloadState) readAvro(value []byte, root *avroNode) (null bool, err *DecodeError) {
	r := avroReader{data: value}
	n, ok := r.branch(root)
	if !ok {
		return false, avroMalformed("")
	}
	switch n.kind {
	case akNull:
		return true, nil
	case akRecord:
	default:
		return false, &DecodeError{Reason: "Avro value is a " + n.kind.String() + ", not a record"}
	}
	for i := range n.fields {
		f := &n.fields[i]
		if err := p.avroMember(&r, f); err != nil {
			return false, err
		}
	}
	if r.pos != len(r.data) {
		return false, &DecodeError{Reason: "unexpected data after the Avro record (" + strconv.Itoa(len(r.data)-r.pos) + " bytes): is the schema the writer's?"}
	}
	return false, nil
}

// avroMember reads one field of the payload record.
func (p *payloadState) avroMember(r *avroReader, f *avroField) *DecodeError {
	start := r.pos
	n, ok := r.branch(f.node)
	if !ok {
		return avroMalformed(f.name)
	}
	if f.payload == pfColumn {
		// A flat column: kept with its (union) schema for build.
		r.pos = start
		if !r.skip(f.node, 0) {
			return avroMalformed(f.name)
		}
		p.addColumn(member{key: f.key, val: r.data[start:r.pos], node: f.node})
		return nil
	}
	if n.kind == akNull {
		switch f.payload {
		case pfBefore, pfAfter, pfSource, pfOp:
			p.envelope = true
		}
		return nil
	}
	switch f.payload {
	case pfBefore, pfAfter:
		p.envelope = true
		rowStart := r.pos
		if !r.skip(n, 0) {
			return avroMalformed(f.name)
		}
		if n.kind != akRecord {
			p.fail(avroTypeError(f.name, "row record or null", n))
			return nil
		}
		if f.payload == pfBefore {
			p.before, p.beforeNode, p.hasBefore = r.data[rowStart:r.pos], n, true
		} else {
			p.after, p.afterNode, p.hasAfter = r.data[rowStart:r.pos], n, true
		}
		return nil
	case pfSource:
		p.envelope = true
		if n.kind != akRecord {
			if !r.skip(n, 0) {
				return avroMalformed(f.name)
			}
			p.fail(avroTypeError("source", "source record", n))
			return nil
		}
		return p.avroSource(r, n)
	case pfOp, pfFlatOp:
		if f.payload == pfOp {
			p.envelope = true
		}
		raw, ok := r.str(n)
		if !ok {
			return p.avroWrongType(r, n, f.name, "string")
		}
		p.opText(raw, raw)
	case pfTsMs, pfFlatSrcTs:
		x, ok, err := p.avroInt(r, n, f.name)
		if !ok {
			return err
		}
		if f.payload == pfTsMs {
			p.envTs = x
		} else {
			p.srcTs, p.hasSrcTs = x, true
		}
	case pfFlatTable:
		raw, ok := r.str(n)
		if !ok {
			return p.avroWrongType(r, n, f.name, "table name string")
		}
		p.table, p.hasTable, p.tableInSrc = raw, true, false
	case pfFlatLSN:
		return p.avroLSN(r, n, f.name)
	case pfFlatSeq:
		raw, ok := r.str(n)
		if !ok {
			return p.avroWrongType(r, n, f.name, `string ["<lastCommitLsn>","<lsn>"]`)
		}
		p.sequenceText(raw, f.name, raw)
	case pfDeleted:
		switch n.kind {
		case akBoolean:
			b, ok := r.fixed(1)
			if !ok {
				return avroMalformed(f.name)
			}
			p.deleted = b[0] != 0
		case akString:
			raw, ok := r.bytes()
			if !ok {
				return avroMalformed(f.name)
			}
			p.deleted = string(raw) == "true"
		default:
			return p.avroWrongType(r, n, f.name, `"true" or "false"`)
		}
	default:
		if !r.skip(n, 0) {
			return avroMalformed(f.name)
		}
	}
	return nil
}

// avroWrongType records a member of the wrong Avro type (decoding goes on,
// as for JSON, so that a malformed record is reported as such first).
func (p *payloadState) avroWrongType(r *avroReader, n *avroNode, field, expected string) *DecodeError {
	if !r.skip(n, 0) {
		return avroMalformed(field)
	}
	p.fail(avroTypeError(field, expected, n))
	return nil
}

// avroInt reads an int or long member; ok is false when it has another
// type (recorded in p.err) or the data is malformed (err).
func (p *payloadState) avroInt(r *avroReader, n *avroNode, field string) (x int64, ok bool, err *DecodeError) {
	if n.kind != akInt && n.kind != akLong {
		return 0, false, p.avroWrongType(r, n, field, "integer")
	}
	if x, ok = r.long(); !ok {
		return 0, false, avroMalformed(field)
	}
	return x, true, nil
}

// avroLSN reads an LSN member: a non-negative long.
func (p *payloadState) avroLSN(r *avroReader, n *avroNode, field string) *DecodeError {
	x, ok, err := p.avroInt(r, n, field)
	if !ok {
		return err
	}
	if x < 0 {
		p.fail(&DecodeError{Field: field, Expected: "non-negative integer", Got: strconv.FormatInt(x, 10)})
		return nil
	}
	p.lsn = uint64(x)
	return nil
}

// avroSource reads the source record: table, lsn, sequence and ts_ms;
// the other fields are skipped.
func (p *payloadState) avroSource(r *avroReader, rec *avroNode) *DecodeError {
	for i := range rec.fields {
		f := &rec.fields[i]
		field := f.srcPath
		n, ok := r.branch(f.node)
		if !ok {
			return avroMalformed(field)
		}
		if n.kind == akNull {
			continue
		}
		switch f.source {
		case sfTable:
			raw, ok := r.str(n)
			if !ok {
				if err := p.avroWrongType(r, n, field, "table name string"); err != nil {
					return err
				}
				continue
			}
			p.table, p.hasTable, p.tableInSrc = raw, true, true
		case sfLSN:
			if err := p.avroLSN(r, n, field); err != nil {
				return err
			}
		case sfSequence:
			raw, ok := r.str(n)
			if !ok {
				if err := p.avroWrongType(r, n, field, `string ["<lastCommitLsn>","<lsn>"]`); err != nil {
					return err
				}
				continue
			}
			p.sequenceText(raw, field, raw)
		case sfTsMs:
			x, ok, err := p.avroInt(r, n, field)
			if err != nil {
				return err
			}
			if ok {
				p.srcTs, p.hasSrcTs = x, true
			}
		default:
			if !r.skip(n, 1) {
				return avroMalformed(field)
			}
		}
	}
	return nil
}

// avroRow decodes an Avro row record (a span of the binary) into row.
func (st *buildState) avroRow(ti int, v []byte, rec *avroNode, base string, row *rowParse) *DecodeError {
	r := avroReader{data: v}
	for i := range rec.fields {
		f := &rec.fields[i]
		ci := int(f.cols[ti])
		if ci < 0 {
			if !r.skip(f.node, 1) {
				return avroMalformed(base + f.name)
			}
			continue // unknown columns are ignored
		}
		if err := st.avroColumn(ti, ci, &r, f.node, row, base); err != nil {
			return err
		}
	}
	return nil
}

// avroColumn decodes one column value at r (of schema node) into row.
func (st *buildState) avroColumn(ti, ci int, r *avroReader, node *avroNode, row *rowParse, base string) *DecodeError {
	col := &tableDefs[ti].cols[ci]
	n, ok := r.branch(node)
	if !ok {
		return avroMalformed(base + col.name)
	}
	if n.kind == akNull {
		row.setNull(ci)
		return nil
	}
	switch col.kind {
	case ckInt, ckIntNull:
		if n.kind != akInt && n.kind != akLong {
			return avroTypeError(base+col.name, "integer", n)
		}
		x, ok := r.long()
		if !ok {
			return avroMalformed(base + col.name)
		}
		row.setInt(ci, x)
	case ckText, ckTextNull:
		if n.kind != akString {
			return avroTypeError(base+col.name, "string", n)
		}
		raw, ok := r.bytes()
		if !ok {
			return avroMalformed(base + col.name)
		}
		st.setText(row, ci, raw, false)
	case ckMoney:
		x, err := st.d.avroMoney(r, n, base, col.name)
		if err != nil {
			return err
		}
		row.setInt(ci, x)
	case ckTime:
		x, err := avroTime(r, n, base, col.name)
		if err != nil {
			return err
		}
		row.setInt(ci, x)
	}
	return nil
}

// avroMoney decodes a DECIMAL value into cents: decimal bytes (precise
// mode; the unscaled big-endian two's complement value), a string (string
// mode), a double (double mode) or a VariableScaleDecimal record. The field
// path base+name is only built for errors.
func (d *Decoder) avroMoney(r *avroReader, n *avroNode, base, name string) (int64, *DecodeError) {
	var (
		x        int64
		e        = numSyntax
		expected string
		got      []byte // the value errors quote
		gotHex   bool   // got is binary: quoted in hex
		buf      [32]byte
	)
	switch n.kind {
	case akBytes, akFixed:
		var ok bool
		if n.kind == akBytes {
			got, ok = r.bytes()
		} else {
			got, ok = r.fixed(n.size)
		}
		if !ok {
			return 0, avroMalformed(base + name)
		}
		scale := d.defaultScale
		if n.col.hasScale {
			scale = n.col.scale
		}
		expected, gotHex = "decimal bytes", true
		if len(got) > 0 {
			x, e = unscaledToCents(got, scale)
		}
	case akString:
		var ok bool
		if got, ok = r.bytes(); !ok {
			return 0, avroMalformed(base + name)
		}
		expected = "decimal string"
		x, e = decimalTextToCents(got)
	case akDouble, akFloat:
		var f float64
		bits := 64
		if n.kind == akDouble {
			b, ok := r.fixed(8)
			if !ok {
				return 0, avroMalformed(base + name)
			}
			f = math.Float64frombits(binary.LittleEndian.Uint64(b))
		} else {
			b, ok := r.fixed(4)
			if !ok {
				return 0, avroMalformed(base + name)
			}
			f, bits = float64(math.Float32frombits(binary.LittleEndian.Uint32(b))), 32
		}
		// The shortest decimal that reads back as the same double is the
		// text double mode prints in JSON: the same cents either way.
		got = strconv.AppendFloat(buf[:0], f, 'e', -1, bits)
		expected = "finite decimal number"
		if !math.IsNaN(f) && !math.IsInf(f, 0) {
			x, e = decimalTextToCents(got)
		}
	case akRecord:
		if !n.variable {
			return 0, avroTypeError(base+name, "decimal (bytes, string, double or VariableScaleDecimal)", n)
		}
		expected, got = "VariableScaleDecimal {scale int, value bytes}", []byte("VariableScaleDecimal record")
		var scale int64
		var hasScale, hasValue bool
		for i := range n.fields {
			f := &n.fields[i]
			b, ok := r.branch(f.node)
			if !ok {
				return 0, avroMalformed(base + name + "." + f.name)
			}
			switch {
			case f.name == "scale" && b.kind == akInt:
				if scale, ok = r.int(); !ok {
					return 0, avroMalformed(base + name + ".scale")
				}
				hasScale = true
			case f.name == "value" && b.kind == akBytes:
				var v []byte
				if v, ok = r.bytes(); !ok {
					return 0, avroMalformed(base + name + ".value")
				}
				got, gotHex, hasValue = v, true, true
			default:
				if !r.skip(b, 1) {
					return 0, avroMalformed(base + name + "." + f.name)
				}
			}
		}
		if hasScale && hasValue && len(got) > 0 {
			x, e = unscaledToCents(got, int32(scale))
		}
	default:
		return 0, avroTypeError(base+name, "decimal (bytes, string, double or VariableScaleDecimal)", n)
	}
	if e == numOK {
		return x, nil
	}
	if gotHex {
		return centsResult(x, e, base+name, expected, avroBytesExcerpt(got))
	}
	return centsResult(x, e, base+name, expected, excerpt(got))
}

// avroBytesExcerpt renders decimal bytes for errors: hex, at most 16 bytes.
func avroBytesExcerpt(b []byte) string {
	const hexd = "0123456789abcdef"
	out := []byte("0x")
	for i, c := range b {
		if i == 16 {
			return string(out) + "..."
		}
		out = append(out, hexd[c>>4], hexd[c&0xf])
	}
	return string(out)
}

// avroTime decodes a TIMESTAMP value into Unix µs: a long in the unit its
// schema names (MicroTimestamp, Timestamp, NanoTimestamp, or by magnitude
// without one) or a ZonedTimestamp string. The field path base+name is
// only built for errors.
func avroTime(r *avroReader, n *avroNode, base, name string) (int64, *DecodeError) {
	switch n.kind {
	case akLong, akInt:
		if n.col.time == tuZoned {
			return 0, avroTypeError(base+name, timeExpected(n.col.time), n)
		}
		x, ok := r.long()
		if !ok {
			return 0, avroMalformed(base + name)
		}
		us, e := intTimeToMicros(x, n.col.time)
		if e != numOK {
			return 0, &DecodeError{Field: base + name, Reason: "timestamp " + strconv.FormatInt(x, 10) + " overflows int64 microseconds"}
		}
		return us, nil
	case akString:
		if n.col.time != tuZoned && n.col.time != tuUnknown {
			return 0, avroTypeError(base+name, timeExpected(n.col.time), n)
		}
		raw, ok := r.bytes()
		if !ok {
			return 0, avroMalformed(base + name)
		}
		us, ok := parseISOTimestamp(raw)
		if !ok {
			return 0, &DecodeError{Field: base + name, Expected: "ISO-8601 timestamp", Got: excerpt(raw)}
		}
		return us, nil
	}
	return 0, avroTypeError(base+name, timeExpected(n.col.time), n)
}
