package debezium

// Debezium records serialized by Confluent's ProtobufConverter
// (io.confluent.connect.protobuf.ProtobufConverter). The converter maps
// the connector's Connect schemas to a proto3 file (ProtobufData.
// fromConnectSchema): the package is the namespace of the value schema's
// Connect name ("dbserver1.public.products"), a struct is a message named
// after the last segment of its Connect name (Envelope, Value, Source) with
// fields numbered 1, 2, … in Connect order, nested structs are nested
// messages; int8/int16/int32 are int32, int64 int64, string string, bytes
// bytes, boolean bool, float64 double. org.apache.kafka.connect.data.Decimal
// is the message confluent.type.Decimal {bytes value = 1; uint32 precision
// = 2; int32 scale = 3} (imported from confluent/type/decimal.proto; the
// column's precision and scale also go to (confluent.field_meta).params),
// org.apache.kafka.connect.data.Timestamp is google.protobuf.Timestamp,
// Date google.type.Date. Debezium's own named types (MicroTimestamp,
// ZonedTimestamp …) keep only their base type (int64, string): their unit
// is then recognised by magnitude, as for a schemaless JSON value. An
// optional field is a plain proto3 field by default (a NULL is then
// indistinguishable from the default value), a proto3 "optional" field
// with optional.for.nullables=true, or a google.protobuf wrapper with
// wrapper.for.nullables=true; all three are read.
//
// The decoder reads the protobuf binary (protowire) by the compiled
// descriptor and renders the Connect value as the plain JSON the
// JsonSchemaConverter would write (a Decimal as its exact decimal number,
// a Timestamp as epoch milliseconds, an absent field without presence as
// its default value), which goes through the JSON decoder's payload and row
// path with a schema analysis (schemaInfo) built from the descriptor: one
// row builder for every format.

import (
	"context"
	"encoding/base64"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// protoImports are the sources of the files a registered schema may import
// besides google/protobuf/* (which protocompile provides): Confluent's
// meta.proto and decimal.proto, and the google.type messages ProtobufData
// uses for Date and Time.
var protoImports = map[string]string{
	"confluent/meta.proto": `syntax = "proto3";
package confluent;
import "google/protobuf/descriptor.proto";
message Meta {
  string doc = 1;
  map<string, string> params = 2;
  repeated string tags = 3;
}
extend google.protobuf.FileOptions { Meta file_meta = 1088; }
extend google.protobuf.MessageOptions { Meta message_meta = 1088; }
extend google.protobuf.FieldOptions { Meta field_meta = 1088; }
extend google.protobuf.EnumOptions { Meta enum_meta = 1088; }
extend google.protobuf.EnumValueOptions { Meta enum_value_meta = 1088; }
`,
	"confluent/type/decimal.proto": `syntax = "proto3";
package confluent.type;
message Decimal {
  bytes value = 1;
  uint32 precision = 2;
  int32 scale = 3;
}
`,
	"google/type/date.proto": `syntax = "proto3";
package google.type;
message Date {
  int32 year = 1;
  int32 month = 2;
  int32 day = 3;
}
`,
	"google/type/timeofday.proto": `syntax = "proto3";
package google.type;
message TimeOfDay {
  int32 hours = 1;
  int32 minutes = 2;
  int32 seconds = 3;
  int32 nanos = 4;
}
`,
}

// protoSchemaFile is the name the registered schema is compiled under.
const protoSchemaFile = "registry-schema.proto"

// ProtobufSchema is a compiled .proto schema (as registered by the
// ProtobufConverter, schemaType PROTOBUF) with one message selected for
// decoding: the first top-level message after ParseProtobufSchema, another
// with Select. It is immutable and safe for concurrent use; parse each
// schema once and cache it by its registry id.
type ProtobufSchema struct {
	file protoreflect.FileDescriptor
	msg  protoreflect.MessageDescriptor
	info *schemaInfo
}

// ParseProtobufSchema compiles the text of a .proto schema (as a Schema
// Registry returns it for an id, schemaType PROTOBUF). Imports of
// confluent/meta.proto, confluent/type/decimal.proto, google/type/date.proto,
// google/type/timeofday.proto and the google/protobuf well-known types are
// resolved in-process; any other import is an error. An unusable schema
// gives a *DecodeError with Field "schema".
func ParseProtobufSchema(text string) (sch *ProtobufSchema, err error) {
	defer func() {
		if r := recover(); r != nil {
			sch, err = nil, &DecodeError{Field: "schema", Reason: "unusable Protobuf schema"}
		}
	}()
	srcs := make(map[string]string, len(protoImports)+1)
	for k, v := range protoImports {
		srcs[k] = v
	}
	srcs[protoSchemaFile] = text
	c := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{Accessor: protocompile.SourceAccessorFromMap(srcs)}),
	}
	files, cerr := c.Compile(context.Background(), protoSchemaFile)
	if cerr != nil {
		msg := strings.TrimPrefix(cerr.Error(), protoSchemaFile+":")
		if len(msg) > 200 {
			msg = msg[:200] + "..."
		}
		return nil, &DecodeError{Field: "schema", Reason: "unusable Protobuf schema: " + msg}
	}
	f := files.FindFileByPath(protoSchemaFile)
	if f == nil || f.Messages().Len() == 0 {
		return nil, &DecodeError{Field: "schema", Reason: "unusable Protobuf schema: no message type"}
	}
	return newProtobufSchema(f, f.Messages().Get(0))
}

func newProtobufSchema(f protoreflect.FileDescriptor, md protoreflect.MessageDescriptor) (*ProtobufSchema, error) {
	info, err := protoSchemaInfo(md)
	if err != nil {
		return nil, err
	}
	return &ProtobufSchema{file: f, msg: md, info: info}, nil
}

// Select returns the schema with the message the Confluent message-index
// path names selected: [0] is the first top-level message, [1, 0] the
// first message nested in the second. Indexes naming no message are a
// *DecodeError.
func (s *ProtobufSchema) Select(indexes []int) (*ProtobufSchema, error) {
	if s == nil || s.file == nil {
		return nil, &DecodeError{Reason: "Protobuf value without its schema"}
	}
	if len(indexes) == 0 || (len(indexes) == 1 && indexes[0] == 0) {
		if s.msg == s.file.Messages().Get(0) {
			return s, nil
		}
		indexes = []int{0}
	}
	msgs := s.file.Messages()
	var md protoreflect.MessageDescriptor
	for _, i := range indexes {
		if i < 0 || i >= msgs.Len() {
			return nil, &DecodeError{Field: "schema", Reason: "message indexes " + strconv.Quote(intsText(indexes)) + " name no message of the schema"}
		}
		md = msgs.Get(i)
		msgs = md.Messages()
	}
	if md == s.msg {
		return s, nil
	}
	return newProtobufSchema(s.file, md)
}

// MessageName is the full name of the selected message.
func (s *ProtobufSchema) MessageName() string {
	if s == nil || s.msg == nil {
		return ""
	}
	return string(s.msg.FullName())
}

func intsText(v []int) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, x := range v {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(x))
	}
	b.WriteByte(']')
	return b.String()
}

// protoSchemaInfo analyses the columns of a value message: the envelope's
// before/after messages, or the fields of an ExtractNewRecordState record.
func protoSchemaInfo(md protoreflect.MessageDescriptor) (*schemaInfo, *DecodeError) {
	info := &schemaInfo{}
	envelope := false
	for _, img := range [2]struct {
		name string
		img  int
	}{{"before", imgBefore}, {"after", imgAfter}} {
		fd := md.Fields().ByName(protoreflect.Name(img.name))
		if fd == nil || fd.Kind() != protoreflect.MessageKind || fd.IsList() || fd.IsMap() {
			continue
		}
		envelope = true
		info.fillProtoImage(img.img, fd.Message())
	}
	if !envelope {
		info.fillProtoImage(imgFlat, md)
	}
	return info, nil
}

func (info *schemaInfo) fillProtoImage(img int, md protoreflect.MessageDescriptor) {
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		key := []byte(fd.Name())
		cs := protoColumn(fd)
		for ti := 0; ti < numTables; ti++ {
			if ci := columnIndex(ti, key); ci >= 0 {
				info.cols[img][ti][ci] = cs
			}
		}
	}
}

// protoColumn describes a column's representation by its field type.
func protoColumn(fd protoreflect.FieldDescriptor) colSchema {
	var cs colSchema
	switch fd.Kind() {
	case protoreflect.MessageKind:
		switch fd.Message().FullName() {
		case "confluent.type.Decimal":
			cs.dec = decBytes // rendered as its exact decimal number
		case "google.protobuf.Timestamp":
			cs.time = tuMilli // rendered as epoch milliseconds
		case "google.protobuf.StringValue":
			cs.dec = decString
		case "google.protobuf.DoubleValue", "google.protobuf.FloatValue":
			cs.dec = decDouble
		}
	case protoreflect.StringKind:
		cs.dec = decString
	case protoreflect.DoubleKind, protoreflect.FloatKind:
		cs.dec = decDouble
	case protoreflect.BytesKind:
		cs.dec = decBytes
	}
	return cs
}

// maxProtoDepth bounds the nesting of messages rendered.
const maxProtoDepth = 32

// protoMalformed reports protobuf data that ends early or does not match
// the schema at field.
func protoMalformed(field string) *DecodeError {
	if field == "" {
		return &DecodeError{Reason: "malformed Protobuf data: is the schema the writer's?"}
	}
	return &DecodeError{Field: field, Reason: "malformed Protobuf data: is the schema the writer's?"}
}

// DecodeProtobuf decodes a Debezium record serialized by Confluent's
// ProtobufConverter into the Message Decode gives for the same change in
// JSON. key and value are the protobuf messages after the Confluent
// framing and message indexes (confluent.Split, confluent.SplitProtobuf);
// keySchema and valueSchema are their schemas with the message the indexes
// name selected (ProtobufSchema.Select). keySchema nil means the key is
// not Protobuf (a JSON key, or none); an empty value is a tombstone. Both
// shapes are read, the envelope and the ExtractNewRecordState record;
// errors are *DecodeErrors naming the field path ("after.price", "__op").
// DecodeProtobuf is safe for concurrent use and does not retain key or
// value.
func (d *Decoder) DecodeProtobuf(topic string, key []byte, keySchema *ProtobufSchema, value []byte, valueSchema *ProtobufSchema) (Message, error) {
	keyID, hasKeyID := d.protoKeyID(topic, key, keySchema)
	if len(value) == 0 {
		return tombstoneMessage(topic, keyID, hasKeyID), nil
	}
	if valueSchema == nil || valueSchema.msg == nil {
		return Message{}, &DecodeError{Reason: "Protobuf value without its schema"}
	}
	buf := make([]byte, 0, 4*len(value)+256)
	buf, err := appendProtoJSON(buf, value, valueSchema.msg, "", 0)
	if err != nil {
		return Message{}, err
	}
	s := scanner{data: buf}
	var p payloadState
	if err := p.parseObject(&s); err != nil {
		return Message{}, err
	}
	if p.err != nil {
		return Message{}, p.err
	}
	return d.build(topic, keyID, hasKeyID, &p, valueSchema.info)
}

// protoKeyID reads the entity id from a Protobuf key (a message with an
// "id" field); without a key schema the key is read as JSON.
func (d *Decoder) protoKeyID(topic string, key []byte, keySchema *ProtobufSchema) (int64, bool) {
	if keySchema == nil || keySchema.msg == nil {
		return d.keyID(topic, key)
	}
	if len(key) == 0 {
		return 0, false
	}
	var kb [64]byte
	buf, err := appendProtoJSON(kb[:0], key, keySchema.msg, "", 0)
	if err != nil {
		return 0, false
	}
	return d.keyID(topic, buf)
}

// protoValue is one field's last occurrence in the wire data.
type protoValue struct {
	set  bool
	num  uint64 // varint, fixed32, fixed64
	data []byte // bytes kinds
}

// appendProtoJSON renders the message md encoded in data as a JSON object:
// fields in declaration order, each with its last value (absent fields
// with presence as null, without presence as their default value).
func appendProtoJSON(dst, data []byte, md protoreflect.MessageDescriptor, path string, depth int) ([]byte, *DecodeError) {
	if depth > maxProtoDepth {
		return dst, &DecodeError{Field: path, Reason: "Protobuf message nested too deeply"}
	}
	fields := md.Fields()
	var small [16]protoValue
	vals := small[:0]
	if fields.Len() <= len(small) {
		vals = small[:fields.Len()]
	} else {
		vals = make([]protoValue, fields.Len())
	}
	var lists map[int][]protoValue
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return dst, protoMalformed(path)
		}
		data = data[n:]
		fd := fields.ByNumber(num)
		var v protoValue
		switch typ {
		case protowire.VarintType:
			v.num, n = protowire.ConsumeVarint(data)
		case protowire.Fixed32Type:
			var x uint32
			x, n = protowire.ConsumeFixed32(data)
			v.num = uint64(x)
		case protowire.Fixed64Type:
			v.num, n = protowire.ConsumeFixed64(data)
		case protowire.BytesType:
			v.data, n = protowire.ConsumeBytes(data)
		default:
			n = protowire.ConsumeFieldValue(num, typ, data)
			if fd != nil && n >= 0 {
				return dst, &DecodeError{Field: joinPath(path, string(fd.Name())), Reason: "unsupported Protobuf wire type (groups)"}
			}
		}
		if n < 0 {
			return dst, protoMalformed(joinPath(path, fieldName(fd)))
		}
		data = data[n:]
		if fd == nil {
			continue // unknown fields are ignored
		}
		if !wireTypeFits(fd, typ) {
			return dst, &DecodeError{Field: joinPath(path, string(fd.Name())), Expected: fd.Kind().String(), Got: "wire type " + strconv.Itoa(int(typ))}
		}
		v.set = true
		if fd.IsList() || fd.IsMap() {
			if lists == nil {
				lists = map[int][]protoValue{}
			}
			lists[fd.Index()] = append(lists[fd.Index()], v)
			continue
		}
		if fd.Kind() == protoreflect.MessageKind && vals[fd.Index()].set {
			// Repeated occurrences of a message field merge; keep it
			// simple: concatenated encodings merge by the wire rules.
			merged := append(append([]byte(nil), vals[fd.Index()].data...), v.data...)
			v.data = merged
		}
		vals[fd.Index()] = v
	}
	dst = append(dst, '{')
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if i > 0 {
			dst = append(dst, ',')
		}
		// Field names are identifiers ([A-Za-z0-9_]): no escaping.
		dst = append(dst, '"')
		dst = append(dst, fd.Name()...)
		dst = append(dst, '"', ':')
		var err *DecodeError
		if fd.IsList() || fd.IsMap() {
			dst = append(dst, '[')
			for j, v := range lists[i] {
				if j > 0 {
					dst = append(dst, ',')
				}
				if fd.IsMap() {
					dst, err = appendProtoJSON(dst, v.data, fd.Message(), joinPath(path, string(fd.Name())), depth+1)
				} else {
					dst, err = appendProtoField(dst, fd, v, path, depth)
				}
				if err != nil {
					return dst, err
				}
			}
			dst = append(dst, ']')
			continue
		}
		dst, err = appendProtoField(dst, fd, vals[i], path, depth)
		if err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

func fieldName(fd protoreflect.FieldDescriptor) string {
	if fd == nil {
		return ""
	}
	return string(fd.Name())
}

func joinPath(base, name string) string {
	if base == "" {
		return name
	}
	if name == "" {
		return base
	}
	return base + "." + name
}

// wireTypeFits reports whether a wire type can carry a field of fd's kind
// (packed repeated scalars arrive as bytes).
func wireTypeFits(fd protoreflect.FieldDescriptor, typ protowire.Type) bool {
	switch fd.Kind() {
	case protoreflect.BoolKind, protoreflect.EnumKind, protoreflect.Int32Kind, protoreflect.Sint32Kind,
		protoreflect.Uint32Kind, protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Uint64Kind:
		return typ == protowire.VarintType || (fd.IsList() && typ == protowire.BytesType)
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		return typ == protowire.Fixed32Type || (fd.IsList() && typ == protowire.BytesType)
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		return typ == protowire.Fixed64Type || (fd.IsList() && typ == protowire.BytesType)
	}
	return typ == protowire.BytesType
}

// appendProtoField renders one (singular) field value.
func appendProtoField(dst []byte, fd protoreflect.FieldDescriptor, v protoValue, path string, depth int) ([]byte, *DecodeError) {
	if fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind {
		if !v.set {
			return append(dst, "null"...), nil
		}
		name := string(fd.Name())
		md := fd.Message()
		switch md.FullName() {
		case "confluent.type.Decimal":
			return appendProtoDecimal(dst, v.data, path, name)
		case "google.protobuf.Timestamp":
			return appendProtoTimestamp(dst, v.data, path, name)
		case "google.protobuf.StringValue", "google.protobuf.BytesValue", "google.protobuf.Int32Value",
			"google.protobuf.Int64Value", "google.protobuf.UInt32Value", "google.protobuf.UInt64Value",
			"google.protobuf.BoolValue", "google.protobuf.DoubleValue", "google.protobuf.FloatValue":
			inner := md.Fields().ByNumber(1)
			var w protoValue
			data := v.data
			for len(data) > 0 {
				num, typ, n := protowire.ConsumeTag(data)
				if n < 0 {
					return dst, protoMalformed(joinPath(path, name))
				}
				data = data[n:]
				if num == 1 && wireTypeFits(inner, typ) {
					switch typ {
					case protowire.VarintType:
						w.num, n = protowire.ConsumeVarint(data)
					case protowire.Fixed32Type:
						var x uint32
						x, n = protowire.ConsumeFixed32(data)
						w.num = uint64(x)
					case protowire.Fixed64Type:
						w.num, n = protowire.ConsumeFixed64(data)
					default:
						w.data, n = protowire.ConsumeBytes(data)
					}
					w.set = true
				} else {
					n = protowire.ConsumeFieldValue(num, typ, data)
				}
				if n < 0 {
					return dst, protoMalformed(joinPath(path, name))
				}
				data = data[n:]
			}
			return appendProtoScalar(dst, inner, w, path, name)
		}
		return appendProtoJSON(dst, v.data, md, joinPath(path, name), depth+1)
	}
	if !v.set && fd.HasPresence() {
		return append(dst, "null"...), nil
	}
	return appendProtoScalar(dst, fd, v, path, string(fd.Name()))
}

// appendProtoScalar renders a scalar value (v.set false: the default) of
// the field path.name (the path is only built for errors).
func appendProtoScalar(dst []byte, fd protoreflect.FieldDescriptor, v protoValue, path, name string) ([]byte, *DecodeError) {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		if v.num != 0 {
			return append(dst, "true"...), nil
		}
		return append(dst, "false"...), nil
	case protoreflect.EnumKind, protoreflect.Int32Kind:
		return strconv.AppendInt(dst, int64(int32(v.num)), 10), nil
	case protoreflect.Int64Kind:
		return strconv.AppendInt(dst, int64(v.num), 10), nil
	case protoreflect.Sint32Kind:
		return strconv.AppendInt(dst, int64(int32(protowire.DecodeZigZag(v.num&math.MaxUint32))), 10), nil
	case protoreflect.Sint64Kind:
		return strconv.AppendInt(dst, protowire.DecodeZigZag(v.num), 10), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return strconv.AppendUint(dst, uint64(uint32(v.num)), 10), nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return strconv.AppendUint(dst, v.num, 10), nil
	case protoreflect.Sfixed32Kind:
		return strconv.AppendInt(dst, int64(int32(uint32(v.num))), 10), nil
	case protoreflect.Sfixed64Kind:
		return strconv.AppendInt(dst, int64(v.num), 10), nil
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		f := math.Float64frombits(v.num)
		bits := 64
		if fd.Kind() == protoreflect.FloatKind {
			f, bits = float64(math.Float32frombits(uint32(v.num))), 32
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return dst, &DecodeError{Field: joinPath(path, name), Expected: "finite number", Got: strconv.FormatFloat(f, 'g', -1, 64)}
		}
		return strconv.AppendFloat(dst, f, 'g', -1, bits), nil
	case protoreflect.StringKind:
		if !utf8.Valid(v.data) {
			return dst, &DecodeError{Field: joinPath(path, name), Expected: "UTF-8 string", Got: excerpt(v.data)}
		}
		return appendJSONString(dst, v.data), nil
	case protoreflect.BytesKind:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, v.data)
		return append(dst, '"'), nil
	}
	return dst, &DecodeError{Field: joinPath(path, name), Reason: "unsupported Protobuf field kind " + fd.Kind().String()}
}

// appendJSONString appends s as a JSON string.
func appendJSONString(dst, s []byte) []byte {
	const hexd = "0123456789abcdef"
	dst = append(dst, '"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexd[c>>4], hexd[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// appendProtoDecimal renders a confluent.type.Decimal {bytes value = 1;
// uint32 precision = 2; int32 scale = 3} as its exact decimal number: the
// unscaled big-endian two's complement value with the scale the message
// carries.
func appendProtoDecimal(dst, data []byte, path, name string) ([]byte, *DecodeError) {
	var value []byte
	var scale int64
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return dst, protoMalformed(joinPath(path, name))
		}
		data = data[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			value, n = protowire.ConsumeBytes(data)
		case num == 3 && typ == protowire.VarintType:
			var x uint64
			x, n = protowire.ConsumeVarint(data)
			scale = int64(int32(x))
		default:
			n = protowire.ConsumeFieldValue(num, typ, data)
		}
		if n < 0 {
			return dst, protoMalformed(joinPath(path, name))
		}
		data = data[n:]
	}
	if len(value) == 0 {
		return append(dst, '0'), nil
	}
	if len(value) > 64 || scale < -64 || scale > 64 {
		return dst, &DecodeError{Field: joinPath(path, name), Reason: "decimal value is implausibly long"}
	}
	var digits []byte
	var neg bool
	var small [24]byte
	if len(value) <= 8 { // the common case: an int64 unscaled value
		u := uint64(0)
		if value[0]&0x80 != 0 {
			u = ^uint64(0)
		}
		for _, c := range value {
			u = u<<8 | uint64(c)
		}
		x := int64(u)
		neg = x < 0
		mag := uint64(x)
		if neg {
			mag = -mag
		}
		digits = strconv.AppendUint(small[:0], mag, 10)
	} else {
		var x big.Int
		x.SetBytes(value)
		if value[0]&0x80 != 0 { // two's complement
			var m big.Int
			m.Lsh(big.NewInt(1), uint(8*len(value)))
			x.Sub(&x, &m)
		}
		neg = x.Sign() < 0
		digits = []byte(x.Abs(&x).String())
	}
	if neg {
		dst = append(dst, '-')
	}
	switch {
	case scale <= 0:
		dst = append(dst, digits...)
		for i := int64(0); i < -scale; i++ {
			dst = append(dst, '0')
		}
	case int64(len(digits)) > scale:
		cut := len(digits) - int(scale)
		dst = append(dst, digits[:cut]...)
		dst = append(dst, '.')
		dst = append(dst, digits[cut:]...)
	default:
		dst = append(dst, '0', '.')
		for i := int64(len(digits)); i < scale; i++ {
			dst = append(dst, '0')
		}
		dst = append(dst, digits...)
	}
	return dst, nil
}

// appendProtoTimestamp renders a google.protobuf.Timestamp as epoch
// milliseconds (Connect's Timestamp).
func appendProtoTimestamp(dst, data []byte, path, name string) ([]byte, *DecodeError) {
	var secs, nanos int64
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return dst, protoMalformed(joinPath(path, name))
		}
		data = data[n:]
		switch {
		case num == 1 && typ == protowire.VarintType:
			var x uint64
			x, n = protowire.ConsumeVarint(data)
			secs = int64(x)
		case num == 2 && typ == protowire.VarintType:
			var x uint64
			x, n = protowire.ConsumeVarint(data)
			nanos = int64(int32(x))
		default:
			n = protowire.ConsumeFieldValue(num, typ, data)
		}
		if n < 0 {
			return dst, protoMalformed(joinPath(path, name))
		}
		data = data[n:]
	}
	if secs > math.MaxInt64/1000-1 || secs < math.MinInt64/1000+1 {
		return dst, &DecodeError{Field: joinPath(path, name), Reason: "timestamp " + strconv.FormatInt(secs, 10) + "s overflows int64 milliseconds"}
	}
	return strconv.AppendInt(dst, secs*1000+nanos/1e6, 10), nil
}
