package debezium

// Debezium records serialized by Confluent's JsonSchemaConverter
// (io.confluent.connect.json.JsonSchemaConverter): the Confluent framing
// (magic byte 0, the schema id), then the plain JSON of the Connect value:
// the same bytes the JsonConverter writes with schemas.enable=false. The
// schema is a JSON Schema in the registry, generated from the Connect
// schema by JsonSchemaData.fromConnectSchema:
//
//   - a struct is {"type":"object","title":<Connect name>,"properties":{…}},
//     each property with "connect.index" (its field position);
//   - an optional schema is {"oneOf":[{"type":"null"},<schema>]} with the
//     "connect.index" on the oneOf;
//   - a named Connect type keeps its name in "title", its version in
//     "connect.version", its parameters (strings) in "connect.parameters";
//     integer and float types are "integer"/"number" with "connect.type"
//     (int8 … int64, float32, float64), bytes are "string" with
//     "connect.type":"bytes";
//   - org.apache.kafka.connect.data.Decimal is {"type":"number",
//     "connect.type":"bytes","connect.parameters":{"scale":"2",…}}; its
//     value is base64 of the unscaled bytes (decimal.format=BASE64, the
//     default) or a JSON number (NUMERIC), as with the JsonConverter;
//   - io.debezium.time.MicroTimestamp and the other Debezium time types are
//     "integer" (or "string" for ZonedTimestamp) with that title.
//
// The value is decoded by the JSON decoder's schema-aware path: the JSON
// Schema is analysed once into the same per-column representation
// (schemaInfo) a Connect schema in the JsonConverter wrapper gives.

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// JSONSchema is a parsed JSON Schema (as registered by the
// JsonSchemaConverter) analysed for decoding. It is immutable and safe for
// concurrent use; parse each schema once and cache it by its registry id.
type JSONSchema struct {
	info *schemaInfo
}

// jsNode mirrors the parts of a JSON Schema the decoder reads.
type jsNode struct {
	Type       json.RawMessage            `json:"type"` // "object", or ["null","number"]
	Title      string                     `json:"title"`
	Properties map[string]*jsNode         `json:"properties"`
	OneOf      []*jsNode                  `json:"oneOf"`
	AnyOf      []*jsNode                  `json:"anyOf"`
	Ref        string                     `json:"$ref"`
	Type2      string                     `json:"connect.type"`
	Params     map[string]json.RawMessage `json:"connect.parameters"`
}

// types returns the node's JSON types, null excluded.
func (n *jsNode) types() []string {
	t := bytes.TrimSpace(n.Type)
	if len(t) == 0 {
		return nil
	}
	var one string
	if json.Unmarshal(t, &one) == nil {
		if one == "null" {
			return nil
		}
		return []string{one}
	}
	var many []string
	if json.Unmarshal(t, &many) != nil {
		return nil
	}
	out := many[:0:0]
	for _, s := range many {
		if s != "null" {
			out = append(out, s)
		}
	}
	return out
}

// isNull reports whether the node is {"type":"null"}.
func (n *jsNode) isNull() bool {
	t := bytes.TrimSpace(n.Type)
	return bytes.Equal(t, []byte(`"null"`)) && len(n.Properties) == 0
}

// unwrap returns the non-null branch of an optional schema
// ({"oneOf":[{"type":"null"},S]}, or anyOf), or n itself.
func (n *jsNode) unwrap() *jsNode {
	for depth := 0; n != nil && depth < 4; depth++ {
		branches := n.OneOf
		if len(branches) == 0 {
			branches = n.AnyOf
		}
		if len(branches) == 0 {
			return n
		}
		var pick *jsNode
		for _, b := range branches {
			if b == nil || b.isNull() {
				continue
			}
			if pick != nil { // a real union: no single representation
				return n
			}
			pick = b
		}
		if pick == nil {
			return n
		}
		n = pick
	}
	return n
}

// ParseJSONSchema parses the text of a JSON Schema (as a Schema Registry
// returns it for an id, schemaType JSON) and analyses its columns: the
// envelope's before/after objects, or the top-level properties of an
// ExtractNewRecordState record. An unusable schema gives a *DecodeError
// with Field "schema". Schemas with "$ref" are refused: the
// JsonSchemaConverter never writes them.
func ParseJSONSchema(text string) (*JSONSchema, error) {
	var root jsNode
	dec := json.NewDecoder(bytes.NewReader([]byte(text)))
	if err := dec.Decode(&root); err != nil {
		return nil, &DecodeError{Field: "schema", Reason: "unusable JSON Schema: " + err.Error()}
	}
	if dec.More() {
		return nil, &DecodeError{Field: "schema", Reason: "unusable JSON Schema: data after the schema"}
	}
	r := root.unwrap()
	if r.Ref != "" {
		return nil, &DecodeError{Field: "schema", Reason: "unusable JSON Schema: $ref " + strconv.Quote(excerpt([]byte(r.Ref))) + " is not supported"}
	}
	if ts := r.types(); len(ts) != 1 || ts[0] != "object" {
		if len(r.Properties) == 0 {
			return nil, &DecodeError{Field: "schema", Reason: "unusable JSON Schema: the value is not an object schema"}
		}
	}
	info := &schemaInfo{}
	envelope := false
	for _, img := range [2]struct {
		name string
		img  int
	}{{"before", imgBefore}, {"after", imgAfter}} {
		f := r.Properties[img.name]
		if f == nil {
			continue
		}
		row := f.unwrap()
		if len(row.Properties) == 0 {
			continue
		}
		envelope = true
		if err := info.fillJSONImage(img.img, row.Properties); err != nil {
			return nil, err
		}
	}
	if !envelope {
		if err := info.fillJSONImage(imgFlat, r.Properties); err != nil {
			return nil, err
		}
	}
	return &JSONSchema{info: info}, nil
}

func (info *schemaInfo) fillJSONImage(img int, props map[string]*jsNode) *DecodeError {
	for name, n := range props {
		if n == nil {
			continue
		}
		key := []byte(name)
		known := false
		for ti := 0; ti < numTables; ti++ {
			if columnIndex(ti, key) >= 0 {
				known = true
				break
			}
		}
		if !known {
			continue
		}
		cs, err := jsonSchemaColumn(name, n.unwrap())
		if err != nil {
			return err
		}
		for ti := 0; ti < numTables; ti++ {
			if ci := columnIndex(ti, key); ci >= 0 {
				info.cols[img][ti][ci] = cs
			}
		}
	}
	return nil
}

// jsonSchemaColumn describes a column by its JSON Schema: the Connect name
// in "title", the decimal scale in "connect.parameters", the Connect type in
// "connect.type" (or the JSON type) when there is no name.
func jsonSchemaColumn(name string, n *jsNode) (colSchema, *DecodeError) {
	cs := connectColumn(n.Title)
	switch n.Title {
	case "org.apache.kafka.connect.data.Decimal":
		if p, ok := n.Params["scale"]; ok {
			sc, err := parseScaleParam(p)
			if err != nil {
				return cs, &DecodeError{Field: "schema", Reason: "column " + strconv.Quote(name) + ": invalid decimal scale " + excerpt(p)}
			}
			cs.hasScale, cs.scale = true, sc
		}
	case "":
		ts := n.types()
		switch {
		case n.Type2 == "bytes":
			cs.dec = decBytes
		case n.Type2 == "float64" || n.Type2 == "float32":
			cs.dec = decDouble
		case len(ts) == 1 && ts[0] == "string":
			cs.dec = decString
		case len(ts) == 1 && ts[0] == "number" && n.Type2 == "":
			cs.dec = decDouble
		}
	}
	return cs, nil
}

// DecodeJSONSchema decodes a Debezium record serialized by Confluent's
// JsonSchemaConverter into the Message Decode gives for the same change
// with the JsonConverter. key and value are the payloads after the
// Confluent framing (codecs/confluent): plain JSON, without the
// {"schema","payload"} wrapper. valueSchema gives the column
// representations (decimal scale from connect.parameters, else the
// decoder's DefaultScale); keySchema may be nil (a key is read as JSON
// whatever its schema). An empty or null value is a tombstone. Both shapes
// are read, the envelope and the ExtractNewRecordState record; errors are
// *DecodeErrors naming the JSON path ("after.price", "__op").
// DecodeJSONSchema is safe for concurrent use and does not retain key or
// value.
func (d *Decoder) DecodeJSONSchema(topic string, key []byte, keySchema *JSONSchema, value []byte, valueSchema *JSONSchema) (Message, error) {
	_ = keySchema
	s := scanner{data: value}
	if s.atEnd() || isNullDoc(value) {
		return d.tombstone(topic, key)
	}
	if valueSchema == nil || valueSchema.info == nil {
		return Message{}, &DecodeError{Reason: "JSON Schema value without its schema"}
	}
	if s.data[s.pos] != '{' {
		if err := s.skipValue(); err != nil {
			return Message{}, err
		}
		if !s.atEnd() {
			return Message{}, s.syntaxError("unexpected data after the top-level value:")
		}
		return Message{}, &DecodeError{Reason: "value is not a JSON object: got " + excerpt(value)}
	}
	var p payloadState
	if err := p.parseObject(&s); err != nil {
		return Message{}, err
	}
	if !s.atEnd() {
		return Message{}, s.syntaxError("unexpected data after the top-level value:")
	}
	if p.err != nil {
		return Message{}, p.err
	}
	keyID, hasKeyID := d.keyID(topic, key)
	return d.build(topic, keyID, hasKeyID, &p, valueSchema.info)
}

// RegistrySchema is a parsed schema of a Schema Registry: exactly one of
// Avro (schemaType AVRO, the default), JSON (schemaType JSON) and Protobuf
// (schemaType PROTOBUF) is set.
type RegistrySchema struct {
	Avro     *AvroSchema
	JSON     *JSONSchema
	Protobuf *ProtobufSchema
}

// Kind names the schema's type as the registry does: "AVRO", "JSON" or
// "PROTOBUF".
func (s *RegistrySchema) Kind() string {
	if s != nil && s.JSON != nil {
		return "JSON"
	}
	if s != nil && s.Protobuf != nil {
		return "PROTOBUF"
	}
	return "AVRO"
}

// ParseRegistrySchema parses a registry schema of the given schemaType
// ("" or "AVRO", "JSON", "PROTOBUF"). Unknown types are errors.
func ParseRegistrySchema(schemaType, text string) (*RegistrySchema, error) {
	switch schemaType {
	case "", "AVRO":
		s, err := ParseAvroSchema(text)
		if err != nil {
			return nil, err
		}
		return &RegistrySchema{Avro: s}, nil
	case "JSON":
		s, err := ParseJSONSchema(text)
		if err != nil {
			return nil, err
		}
		return &RegistrySchema{JSON: s}, nil
	case "PROTOBUF":
		s, err := ParseProtobufSchema(text)
		if err != nil {
			return nil, err
		}
		return &RegistrySchema{Protobuf: s}, nil
	}
	return nil, &DecodeError{Field: "schema", Reason: "unknown schema type " + strconv.Quote(excerpt([]byte(schemaType)))}
}
