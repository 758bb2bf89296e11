package debezium

import (
	"strings"
	"unicode/utf8"
)

// DecoderOptions configures a Decoder.
type DecoderOptions struct {
	// DefaultScale is the scale of base64 (precise) decimals whose schema
	// does not state one, in particular without the schema wrapper
	// (config DECIMAL_SCALE; 0 is a legal scale).
	DefaultScale int32
	// UnavailablePlaceholder is the connector's unavailable.value.placeholder:
	// the text a change carries instead of an unchanged TOASTed value.
	// Empty means DefaultUnavailablePlaceholder.
	UnavailablePlaceholder string
}

// DefaultUnavailablePlaceholder is Debezium's default
// unavailable.value.placeholder.
const DefaultUnavailablePlaceholder = "__debezium_unavailable_value"

// Decoder turns Debezium records into typed Messages. It keeps a bounded
// cache of analysed Connect schemas, so each schema is analysed once. A
// Decoder is safe for concurrent use.
type Decoder struct {
	defaultScale int32
	placeholder  string
	cache        *schemaCache // value schemas
	keyCache     *schemaCache // key schemas: only their extent matters
}

// NewDecoder returns a Decoder.
func NewDecoder(opts DecoderOptions) *Decoder {
	placeholder := opts.UnavailablePlaceholder
	if placeholder == "" {
		placeholder = DefaultUnavailablePlaceholder
	}
	return &Decoder{defaultScale: opts.DefaultScale, placeholder: placeholder, cache: newSchemaCache(), keyCache: newSchemaCache()}
}

// Decode decodes one Kafka record of a CDC topic: every shape in CONTRACT.md
// section 1 (envelope or ExtractNewRecordState output, each with or without
// the schema wrapper; tombstones; truncates). A message that cannot be
// understood yields a *DecodeError. Decode is safe for concurrent use and
// does not retain key or value.
//
// A successful KindChange always carries the row its op needs: After for
// r/c/u (with every NOT NULL column), Before for d. A delete's Before may be
// partial (REPLICA IDENTITY DEFAULT sends only the key; when no old row is
// sent at all, Before holds just the entity id): absent columns are zero.
func (d *Decoder) Decode(topic string, key, value []byte) (Message, error) {
	msg, err := d.decode(topic, key, value)
	if err != nil {
		return Message{}, err
	}
	return msg, nil
}

// member is an object member: its key and the raw bytes of its value
// (JSON, or Avro binary of node when node is set).
type member struct {
	key, val []byte
	node     *avroNode
}

// payloadState collects what one pass over a payload object found. Row
// images are kept as raw spans and decoded once the table is known.
type payloadState struct {
	prefix   string // JSON path prefix of the payload: "payload." or ""
	envelope bool   // before/after/source/op seen
	err      *DecodeError

	before, after       []byte
	hasBefore, hasAfter bool
	// beforeNode and afterNode are set when before/after are Avro
	// binary records of that schema (else JSON spans).
	beforeNode, afterNode *avroNode

	op         byte
	opRaw      []byte
	hasOp      bool
	table      []byte
	hasTable   bool
	tableInSrc bool // table came from source.table (else __source_table)
	lsn        uint64
	seq        sequence // source.sequence, __source_sequence or __sequence
	srcTs      int64
	hasSrcTs   bool
	envTs      int64
	deleted    bool

	ncols int
	cols  [16]member // flat columns (known column names only, last wins)
}

func (p *payloadState) fail(err *DecodeError) {
	if p.err == nil {
		p.err = err
	}
}

// knownColumn reports whether name is a column of any source table.
func knownColumn(name []byte) bool {
	switch string(name) {
	case "id", "name", "description", "price", "stock_quantity", "created_at", "updated_at",
		"customer_id", "total_amount", "status", "order_id", "product_id", "quantity":
		return true
	}
	return false
}

// parseObject reads the payload object at s (positioned at '{'), validating
// all of it; semantic problems are recorded in p.err.
func (p *payloadState) parseObject(s *scanner) *DecodeError {
	if err := s.beginObject(); err != nil {
		return err
	}
	for n := 0; ; n++ {
		k, done, err := s.nextMember(n)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		if err := p.memberAt(k, s); err != nil {
			return err
		}
	}
}

// memberAt interprets the payload member k whose value is at s, consuming
// it. The source block is parsed in place; other values as spans.
func (p *payloadState) memberAt(k []byte, s *scanner) *DecodeError {
	if string(k) == "source" && s.peek() == '{' {
		p.envelope = true
		return p.parseSource(s)
	}
	v, err := s.valueSpan()
	if err != nil {
		return err
	}
	p.member(k, v)
	return nil
}

// payloadField is what a member of a payload (a change envelope or an
// ExtractNewRecordState record) means, whatever the serialization: the JSON
// and the Avro decoders both map member names through payloadFieldOf.
type payloadField uint8

const (
	pfOther       payloadField = iota // ignored
	pfBefore                          // envelope: the old row image
	pfAfter                           // envelope: the new row image
	pfSource                          // envelope: the source block
	pfOp                              // envelope: op
	pfTsMs                            // envelope: ts_ms (when the connector processed the change)
	pfTransaction                     // envelope: transaction (ignored, but marks an envelope in neither shape)
	pfFlatOp                          // __op
	pfFlatSrcTs                       // __source_ts_ms
	pfFlatTable                       // __source_table
	pfFlatLSN                         // __lsn, __source_lsn
	pfFlatSeq                         // __source_sequence, __sequence
	pfDeleted                         // __deleted
	pfColumn                          // a column of a source table (flattened records)
)

// payloadFieldOf returns the meaning of a payload member name.
func payloadFieldOf(name []byte) payloadField {
	switch string(name) {
	case "before":
		return pfBefore
	case "after":
		return pfAfter
	case "source":
		return pfSource
	case "op":
		return pfOp
	case "ts_ms":
		return pfTsMs
	case "transaction":
		return pfTransaction
	case "__op":
		return pfFlatOp
	case "__source_ts_ms":
		return pfFlatSrcTs
	case "__source_table":
		return pfFlatTable
	case "__lsn", "__source_lsn":
		return pfFlatLSN
	case "__source_sequence", "__sequence":
		return pfFlatSeq
	case "__deleted":
		return pfDeleted
	}
	if knownColumn(name) {
		return pfColumn
	}
	return pfOther
}

// sourceField is what a member of the source block means.
type sourceField uint8

const (
	sfOther sourceField = iota
	sfTable
	sfLSN
	sfSequence
	sfTsMs
)

// sourceFieldOf returns the meaning of a source block member name.
func sourceFieldOf(name []byte) sourceField {
	switch string(name) {
	case "table":
		return sfTable
	case "lsn":
		return sfLSN
	case "sequence":
		return sfSequence
	case "ts_ms":
		return sfTsMs
	}
	return sfOther
}

// member interprets one payload member.
func (p *payloadState) member(k, v []byte) {
	switch payloadFieldOf(k) {
	case pfBefore:
		p.envelope, p.before, p.hasBefore = true, v, true
	case pfAfter:
		p.envelope, p.after, p.hasAfter = true, v, true
	case pfSource: // not an object (memberAt parses objects)
		p.envelope = true
		if v[0] != 'n' {
			p.fail(typeError(p.prefix+"source", "object", v))
		}
	case pfOp:
		p.envelope = true
		p.setOp(v, "op")
	case pfTsMs:
		if ts, ok := p.intField(v, "ts_ms"); ok {
			p.envTs = ts
		}
	case pfFlatOp:
		p.setOp(v, "__op")
	case pfFlatSrcTs:
		if v[0] != 'n' {
			if ts, ok := p.intField(v, "__source_ts_ms"); ok {
				p.srcTs, p.hasSrcTs = ts, true
			}
		}
	case pfFlatTable:
		p.setTable(v, false)
	case pfFlatLSN:
		if lsn, ok := p.uintField(v, string(k)); ok {
			p.lsn = lsn
		}
	case pfFlatSeq:
		p.setSequence(v, string(k))
	case pfDeleted:
		switch {
		case v[0] == '"':
			p.deleted = string(v) == `"true"`
		case v[0] == 't':
			p.deleted = true
		case v[0] == 'f' || v[0] == 'n':
		default:
			p.fail(typeError(p.prefix+"__deleted", `"true" or "false"`, v))
		}
	case pfColumn:
		p.addColumn(member{key: k, val: v})
	}
}

// addColumn records a flat column member (last wins).
func (p *payloadState) addColumn(m member) {
	for i := 0; i < p.ncols; i++ {
		if string(p.cols[i].key) == string(m.key) {
			p.cols[i] = m
			return
		}
	}
	if p.ncols < len(p.cols) {
		p.cols[p.ncols] = m
		p.ncols++
	}
}

// setOp records the op code from a string value (null means absent).
func (p *payloadState) setOp(v []byte, name string) {
	if v[0] == 'n' {
		return
	}
	if v[0] != '"' {
		p.fail(typeError(p.prefix+name, `one of "r", "c", "u", "d", "t"`, v))
		return
	}
	p.opText(stringContent(v), v)
}

// opText records the op code from its text; got is what errors quote.
func (p *payloadState) opText(raw, got []byte) {
	p.hasOp, p.opRaw = true, got
	if len(raw) == 1 {
		p.op = raw[0]
	} else {
		p.op = 0
	}
}

func (p *payloadState) setTable(v []byte, inSource bool) {
	switch v[0] {
	case 'n':
	case '"':
		p.table, p.hasTable, p.tableInSrc = stringContent(v), true, inSource
	default:
		p.fail(typeError(p.tableField(inSource), "table name string", v))
	}
}

// tableField is the JSON path of the table name, for errors.
func (p *payloadState) tableField(inSource bool) string {
	if inSource {
		return p.prefix + "source.table"
	}
	return p.prefix + "__source_table"
}

// intField reads an integer member (null gives ok == false).
func (p *payloadState) intField(v []byte, name string) (int64, bool) {
	if v[0] == 'n' {
		return 0, false
	}
	if !isNumber(v) {
		p.fail(typeError(p.prefix+name, "integer", v))
		return 0, false
	}
	x, e := parseJSONInt(v)
	if e != numOK {
		p.fail(typeError(p.prefix+name, "64-bit integer", v))
		return 0, false
	}
	return x, true
}

// uintField reads a non-negative integer member (null gives 0).
func (p *payloadState) uintField(v []byte, name string) (uint64, bool) {
	if v[0] == 'n' {
		return 0, true
	}
	if !isNumber(v) {
		p.fail(typeError(p.prefix+name, "non-negative integer", v))
		return 0, false
	}
	x, e := parseJSONUint(v)
	if e != numOK {
		p.fail(typeError(p.prefix+name, "non-negative 64-bit integer", v))
		return 0, false
	}
	return x, true
}

// parseSource reads the source block object at s (validating all of it):
// table, lsn and ts_ms; other members are skipped.
func (p *payloadState) parseSource(s *scanner) *DecodeError {
	if err := s.beginObject(); err != nil {
		return err
	}
	for n := 0; ; n++ {
		k, done, err := s.nextMember(n)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		f, err := s.valueSpan()
		if err != nil {
			return err
		}
		switch sourceFieldOf(k) {
		case sfTable:
			p.setTable(f, true)
		case sfLSN:
			if lsn, ok := p.uintField(f, "source.lsn"); ok {
				p.lsn = lsn
			}
		case sfSequence:
			p.setSequence(f, "source.sequence")
		case sfTsMs:
			if f[0] != 'n' {
				if ts, ok := p.intField(f, "source.ts_ms"); ok {
					p.srcTs, p.hasSrcTs = ts, true
				}
			}
		}
	}
}

// sequence is a parsed source.sequence: ["<lastCommitLsn>","<lsn>"].
type sequence struct {
	ok     bool   // present, with a change LSN
	commit uint64 // 0 when null
	lsn    uint64
}

// setSequence records a source.sequence value: a JSON array of two
// decimal strings (or nulls) printed into a JSON string. null, or an array
// whose change LSN is null, means no sequence.
func (p *payloadState) setSequence(v []byte, name string) {
	if v[0] == 'n' {
		return
	}
	field := p.prefix + name
	if v[0] != '"' {
		p.fail(typeError(field, `JSON array in a string, ["<lastCommitLsn>","<lsn>"]`, v))
		return
	}
	p.sequenceText(stringContent(v), field, v)
}

// sequenceText records a source.sequence from the text of its string; got
// is what errors quote.
func (p *payloadState) sequenceText(raw []byte, field string, got []byte) {
	seq, ok := parseSequence(raw)
	if !ok {
		p.fail(typeError(field, `["<lastCommitLsn>","<lsn>"] with decimal LSNs or null`, got))
		return
	}
	p.seq = seq
}

// parseSequence parses the content of a source.sequence string.
func parseSequence(raw []byte) (sequence, bool) {
	s := scanner{data: raw}
	if s.peek() != '[' {
		return sequence{}, false
	}
	s.pos++
	var lsns [2]uint64
	var null [2]bool
	for i := range lsns {
		if i > 0 {
			if s.peek() != ',' {
				return sequence{}, false
			}
			s.pos++
		}
		v, err := s.valueSpan()
		if err != nil {
			return sequence{}, false
		}
		switch {
		case v[0] == 'n':
			null[i] = true
		case v[0] == '"':
			x, e := parseJSONUint(stringContent(v))
			if e != numOK {
				return sequence{}, false
			}
			lsns[i] = x
		default:
			return sequence{}, false
		}
	}
	if s.peek() != ']' {
		return sequence{}, false
	}
	s.pos++
	if !s.atEnd() {
		return sequence{}, false
	}
	if null[1] {
		return sequence{}, true
	}
	return sequence{ok: true, commit: lsns[0], lsn: lsns[1]}, true
}

// isNumber reports whether a validated JSON value is a number.
func isNumber(v []byte) bool { return v[0] == '-' || (v[0] >= '0' && v[0] <= '9') }

// stringContent returns the raw content of a validated JSON string value,
// unescaping (with an allocation) only when it has escapes.
func stringContent(v []byte) []byte {
	raw := v[1 : len(v)-1]
	for _, c := range raw {
		if c == '\\' {
			return appendUnescaped(nil, raw)
		}
	}
	return raw
}

// decode does the work of Decode.
func (d *Decoder) decode(topic string, key, value []byte) (Message, error) {
	s := scanner{data: value}
	if s.atEnd() || isNullDoc(value) {
		return d.tombstone(topic, key)
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

	// One pass over the top level. With the schema wrapper the payload is
	// parsed in place (into wrapped) and the schema is matched against the
	// cache; without it, the top-level members are the payload (top).
	var top, wrapped payloadState
	wrapped.prefix = "payload."
	var (
		sawPayload, payloadNull bool
		schemaRaw               []byte
		sch                     *schemaInfo
	)
	if err := s.beginObject(); err != nil {
		return Message{}, err
	}
	for n := 0; ; n++ {
		k, done, err := s.nextMember(n)
		if err != nil {
			return Message{}, err
		}
		if done {
			break
		}
		switch string(k) {
		case "payload":
			sawPayload = true
			switch s.peek() {
			case '{':
				wrapped = payloadState{prefix: "payload."}
				if err := wrapped.parseObject(&s); err != nil {
					return Message{}, err
				}
				payloadNull = false
			case 'n':
				if err := s.literal("null"); err != nil {
					return Message{}, err
				}
				payloadNull = true
			default:
				v, err := s.valueSpan()
				if err != nil {
					return Message{}, err
				}
				wrapped.fail(typeError("payload", "object", v))
			}
		case "schema":
			if s.pos < len(s.data) && s.data[s.pos] == '{' {
				if hit := d.cache.matchTopic(topic, s.data[s.pos:]); hit != nil {
					s.pos += len(hit.raw)
					sch, schemaRaw = hit, nil
					continue
				}
			}
			v, err := s.valueSpan()
			if err != nil {
				return Message{}, err
			}
			sch, schemaRaw = nil, v
		default:
			if err := top.memberAt(k, &s); err != nil {
				return Message{}, err
			}
		}
	}
	if !s.atEnd() {
		return Message{}, s.syntaxError("unexpected data after the top-level value:")
	}

	p := &top
	if sawPayload {
		if payloadNull {
			return d.tombstone(topic, key)
		}
		p = &wrapped
		if schemaRaw != nil {
			switch schemaRaw[0] {
			case '{':
				sch = d.cache.get(topic, schemaRaw)
			case 'n':
			default:
				return Message{}, typeError("schema", "Connect schema object", schemaRaw)
			}
		}
		if sch != nil && sch.err != nil {
			return Message{}, sch.err
		}
	} else {
		sch = nil // a top-level "schema" column without payload is not a wrapper
	}
	if p.err != nil {
		return Message{}, p.err
	}
	keyID, hasKeyID := d.keyID(topic, key)
	return d.build(topic, keyID, hasKeyID, p, sch)
}

// isNullDoc reports whether value is the JSON literal null (with blanks).
func isNullDoc(value []byte) bool {
	s := scanner{data: value}
	return s.isNull() && s.atEnd()
}

// tombstone builds the Message of a null-valued record with a JSON key.
func (d *Decoder) tombstone(topic string, key []byte) (Message, error) {
	id, ok := d.keyID(topic, key)
	return tombstoneMessage(topic, id, ok), nil
}

// tombstoneMessage builds the Message of a null-valued record whose key
// gave the entity id when ok.
func tombstoneMessage(topic string, id int64, ok bool) Message {
	m := Message{Kind: KindTombstone, Table: tableFromTopic(topic)}
	if ok {
		m.ID = id
	}
	return m
}

// tableFromTopic returns the last dot-separated segment of the topic, as one
// of the Table constants when it names a known table.
func tableFromTopic(topic string) string {
	seg := topic[strings.LastIndexByte(topic, '.')+1:]
	if ti := tableIndexString(seg); ti >= 0 {
		return tableDefs[ti].name
	}
	return seg
}

// keyID extracts the entity id from a Debezium JSON key: {"id":N},
// {"schema":…,"payload":{"id":N}}, {"payload":N} or a bare number. Any other
// key (nil, garbage, no id) gives ok == false. Key schemas are recognised
// through the key schema cache instead of being scanned each time.
func (d *Decoder) keyID(topic string, key []byte) (id int64, ok bool) {
	s := scanner{data: key}
	if s.atEnd() {
		return 0, false
	}
	id, ok = keyValue(&s, true, d.keyCache, topic)
	if !ok || !s.atEnd() {
		return 0, false
	}
	return id, true
}

// keyValue reads the id from the value at s: a number, or an object with a
// numeric "id" member (or, when allowPayload is set, a "payload" member
// holding either, and a "schema" member looked up in kc). Recursion is at
// most two levels deep.
func keyValue(s *scanner, allowPayload bool, kc *schemaCache, topic string) (int64, bool) {
	switch c := s.peek(); {
	case c == '-' || (c >= '0' && c <= '9'):
		t, err := s.readNumber()
		if err != nil {
			return 0, false
		}
		id, e := parseJSONInt(t)
		return id, e == numOK
	case c != '{':
		return 0, false
	}
	if s.beginObject() != nil {
		return 0, false
	}
	var id int64
	found := false
	for n := 0; ; n++ {
		k, done, err := s.nextMember(n)
		if err != nil {
			return 0, false
		}
		if done {
			return id, found
		}
		c := s.peek()
		isNum := c == '-' || (c >= '0' && c <= '9')
		switch {
		case string(k) == "id" && isNum, allowPayload && string(k) == "payload" && (isNum || c == '{'):
			v, ok := keyValue(s, false, nil, "")
			if !ok {
				return 0, false
			}
			id, found = v, true
		case allowPayload && string(k) == "schema" && c == '{':
			if hit := kc.matchTopic(topic, s.data[s.pos:]); hit != nil {
				s.pos += len(hit.raw)
				continue
			}
			v, err := s.valueSpan()
			if err != nil {
				return 0, false
			}
			kc.get(topic, v)
		default:
			if s.skipValue() != nil {
				return 0, false
			}
		}
	}
}

// typeError reports a value of the wrong JSON type or form.
func typeError(field, expected string, got []byte) *DecodeError {
	return &DecodeError{Field: field, Expected: expected, Got: excerpt(got)}
}

// excerpt returns at most 40 bytes of b, valid UTF-8, for error messages.
func excerpt(b []byte) string {
	const max = 40
	if len(b) <= max {
		return strings.ToValidUTF8(string(b), "?")
	}
	cut := max - 3
	for cut > 0 && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return strings.ToValidUTF8(string(b[:cut]), "?") + "..."
}
