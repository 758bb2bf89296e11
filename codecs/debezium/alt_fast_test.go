package debezium

// Alternative decoder (b): github.com/valyala/fastjson (no reflection, a
// parsed tree over a reusable Parser). Test-only, see alt_typed_test.go for
// the shared parser-neutral part and the equivalence test.

import (
	"sync"
	"testing"

	"github.com/valyala/fastjson"
)

// fastState is the reusable per-call state (parsers and scratch memory),
// pooled so that a decode allocates only what the Message keeps.
type fastState struct {
	p, key, seq fastjson.Parser
	flat        [2][16]fastMember
	num         []byte // number text scratch (fastjson keeps no raw spans)
	schema      []byte // re-serialised schema, for the schema cache key
}

var fastStates = sync.Pool{New: func() any {
	return &fastState{num: make([]byte, 0, 64), schema: make([]byte, 0, 4096)}
}}

// text returns a number's text (valid until the next call).
func (st *fastState) text(v *fastjson.Value) []byte {
	st.num = v.MarshalTo(st.num[:0])
	return st.num
}

// fastRows holds the fastjson row objects of a payload.
type fastRows struct {
	before, after *fastjson.Value
	flat          []fastMember
}

type fastMember struct {
	key []byte
	v   *fastjson.Value
}

func fastVal(v *fastjson.Value, st *fastState) altVal {
	switch v.Type() {
	case fastjson.TypeNull:
		return altVal{kind: 'n'}
	case fastjson.TypeString:
		s, _ := v.StringBytes()
		return altVal{kind: '"', text: s}
	case fastjson.TypeNumber:
		return altVal{kind: '0', text: st.text(v)}
	case fastjson.TypeObject:
		sc, val := v.Get("scale"), v.Get("value")
		if sc == nil || val == nil || sc.Type() != fastjson.TypeNumber || val.Type() != fastjson.TypeString {
			return altVal{kind: '{'}
		}
		x, e := parseJSONInt(st.text(sc))
		if e != numOK {
			return altVal{kind: '{'}
		}
		s, _ := val.StringBytes()
		return altVal{kind: '{', vsOK: true, vsScale: x, vsValue: s}
	}
	return altVal{kind: '?'}
}

func (r *fastRows) fill(d *Decoder, st *fastState, ti, img int, cols *[maxCols]colSchema, row *rowParse) error {
	if img == imgFlat {
		for _, m := range r.flat {
			if ci := columnIndex(ti, m.key); ci >= 0 {
				if err := d.altColumn(ti, ci, fastVal(m.v, st), &cols[ci], row); err != nil {
					return err
				}
			}
		}
		return nil
	}
	v := r.after
	if img == imgBefore {
		v = r.before
	}
	o, err := v.Object()
	if err != nil {
		return altErr("row", "row object")
	}
	var ferr error
	o.Visit(func(k []byte, fv *fastjson.Value) {
		if ferr != nil {
			return
		}
		if ci := columnIndex(ti, k); ci >= 0 {
			ferr = d.altColumn(ti, ci, fastVal(fv, st), &cols[ci], row)
		}
	})
	return ferr
}

// fastPayload reads the members of a payload object.
func fastPayload(st *fastState, o *fastjson.Object, wrapped bool, p *altPayload, rows *fastRows) error {
	p.wrapped = wrapped
	var err error
	fail := func(e error) {
		if err == nil {
			err = e
		}
	}
	num := st.text
	setOp := func(v *fastjson.Value) {
		switch v.Type() {
		case fastjson.TypeNull:
		case fastjson.TypeString:
			s, _ := v.StringBytes()
			p.hasOp, p.op = true, 0
			if len(s) == 1 {
				p.op = s[0]
			}
		default:
			fail(altErr("op", "string"))
		}
	}
	setTable := func(v *fastjson.Value) {
		switch v.Type() {
		case fastjson.TypeNull:
		case fastjson.TypeString:
			s, _ := v.StringBytes()
			p.table, p.hasTable = s, true
		default:
			fail(altErr("table", "string"))
		}
	}
	setLSN := func(v *fastjson.Value) {
		switch v.Type() {
		case fastjson.TypeNull:
			p.lsn = 0
		case fastjson.TypeNumber:
			x, e := parseJSONUint(num(v))
			if e != numOK {
				fail(altErr("lsn", "uint64"))
			}
			p.lsn = x
		default:
			fail(altErr("lsn", "uint64"))
		}
	}
	setSrcTs := func(v *fastjson.Value) {
		switch v.Type() {
		case fastjson.TypeNull:
		case fastjson.TypeNumber:
			x, e := parseJSONInt(num(v))
			if e != numOK {
				fail(altErr("ts_ms", "int64"))
			}
			p.srcTs, p.hasSrcTs = x, true
		default:
			fail(altErr("ts_ms", "int64"))
		}
	}
	setSeq := func(v *fastjson.Value) {
		switch v.Type() {
		case fastjson.TypeNull:
			return
		case fastjson.TypeString:
		default:
			fail(altErr("sequence", "string"))
			return
		}
		s, _ := v.StringBytes()
		a, e := st.seq.ParseBytes(s) // the string holds a nested JSON document
		if e != nil || a.Type() != fastjson.TypeArray {
			fail(altErr("sequence", "array"))
			return
		}
		arr, _ := a.Array()
		var two [2]*string
		var strs [2]string
		for i := 0; i < len(arr) && i < 2; i++ {
			switch arr[i].Type() {
			case fastjson.TypeNull:
			case fastjson.TypeString:
				b, _ := arr[i].StringBytes()
				strs[i] = string(b)
				two[i] = &strs[i]
			default:
				fail(altErr("sequence", "strings"))
				return
			}
		}
		seq, ok := altSequence(two, len(arr))
		if !ok {
			fail(altErr("sequence", "bad"))
			return
		}
		p.seq = seq
	}
	o.Visit(func(k []byte, v *fastjson.Value) {
		switch string(k) {
		case "before":
			p.envelope, rows.before, p.hasBefore = true, v, v.Type() != fastjson.TypeNull
		case "after":
			p.envelope, rows.after, p.hasAfter = true, v, v.Type() != fastjson.TypeNull
		case "source":
			p.envelope = true
			switch v.Type() {
			case fastjson.TypeNull:
			case fastjson.TypeObject:
				so, _ := v.Object()
				so.Visit(func(sk []byte, sv *fastjson.Value) {
					switch string(sk) {
					case "table":
						setTable(sv)
					case "lsn":
						setLSN(sv)
					case "sequence":
						setSeq(sv)
					case "ts_ms":
						setSrcTs(sv)
					}
				})
			default:
				fail(altErr("source", "object"))
			}
		case "op":
			p.envelope = true
			setOp(v)
		case "__op":
			setOp(v)
		case "ts_ms":
			if v.Type() == fastjson.TypeNumber {
				x, e := parseJSONInt(num(v))
				if e != numOK {
					fail(altErr("ts_ms", "int64"))
				}
				p.envTs = x
			} else if v.Type() != fastjson.TypeNull {
				fail(altErr("ts_ms", "int64"))
			}
		case "__source_ts_ms":
			setSrcTs(v)
		case "__source_table":
			setTable(v)
		case "__lsn", "__source_lsn":
			setLSN(v)
		case "__source_sequence", "__sequence":
			setSeq(v)
		case "__deleted":
			switch v.Type() {
			case fastjson.TypeString:
				s, _ := v.StringBytes()
				p.deleted = string(s) == "true"
			case fastjson.TypeTrue:
				p.deleted = true
			case fastjson.TypeFalse, fastjson.TypeNull:
			default:
				fail(altErr("__deleted", "bool"))
			}
		default:
			if knownColumn(k) {
				for i := range rows.flat {
					if string(rows.flat[i].key) == string(k) {
						rows.flat[i].v = v
						return
					}
				}
				rows.flat = append(rows.flat, fastMember{k, v})
			}
		}
	})
	return err
}

func fastKeyID(st *fastState, key []byte) (int64, bool) {
	if altBlank(key) {
		return 0, false
	}
	v, err := st.key.ParseBytes(key)
	if err != nil {
		return 0, false
	}
	num := func(v *fastjson.Value) (int64, bool) {
		x, e := parseJSONInt(st.text(v))
		return x, e == numOK
	}
	switch v.Type() {
	case fastjson.TypeNumber:
		return num(v)
	case fastjson.TypeObject:
	default:
		return 0, false
	}
	if pl := v.Get("payload"); pl != nil {
		switch pl.Type() {
		case fastjson.TypeNumber:
			return num(pl)
		case fastjson.TypeObject:
			id := pl.Get("id")
			if id == nil || id.Type() != fastjson.TypeNumber {
				return 0, false
			}
			return num(id)
		}
	}
	if id := v.Get("id"); id != nil && id.Type() == fastjson.TypeNumber {
		return num(id)
	}
	return 0, false
}

func (d *Decoder) decodeFastValidated(topic string, key, value []byte) (Message, error) {
	if !altBlank(value) {
		if err := fastjson.ValidateBytes(value); err != nil {
			return Message{}, &DecodeError{Reason: "value is not JSON: " + err.Error()}
		}
	}
	return d.decodeFast(topic, key, value)
}

// decodeFast is Decode written with fastjson.
func (d *Decoder) decodeFast(topic string, key, value []byte) (Message, error) {
	st := fastStates.Get().(*fastState)
	defer fastStates.Put(st)
	keyID, hasKey := fastKeyID(st, key)
	if altBlank(value) {
		return d.altTombstone(topic, keyID, hasKey), nil
	}
	v, err := st.p.ParseBytes(value)
	if err != nil {
		return Message{}, &DecodeError{Reason: "value is not JSON: " + err.Error()}
	}
	o, err := v.Object()
	if err != nil {
		return Message{}, &DecodeError{Reason: "value is not a JSON object"}
	}
	var top, wrapped altPayload
	var topRows, wrappedRows fastRows
	topRows.flat, wrappedRows.flat = st.flat[0][:0], st.flat[1][:0]
	var payloadV, schemaV *fastjson.Value
	o.Visit(func(k []byte, fv *fastjson.Value) {
		switch string(k) {
		case "payload":
			payloadV = fv
		case "schema":
			schemaV = fv
		}
	})
	var sch *schemaInfo
	p, rows := &top, &topRows
	if payloadV != nil {
		switch payloadV.Type() {
		case fastjson.TypeNull:
			return d.altTombstone(topic, keyID, hasKey), nil
		case fastjson.TypeObject:
		default:
			return Message{}, altErr("payload", "object")
		}
		po, _ := payloadV.Object()
		if err := fastPayload(st, po, true, &wrapped, &wrappedRows); err != nil {
			return Message{}, err
		}
		p, rows = &wrapped, &wrappedRows
		if schemaV != nil {
			switch schemaV.Type() {
			case fastjson.TypeObject:
				st.schema = schemaV.MarshalTo(st.schema[:0])
				sch = d.cache.get(topic, st.schema)
			case fastjson.TypeNull:
			default:
				return Message{}, altErr("schema", "object")
			}
		}
		if sch != nil && sch.err != nil {
			return Message{}, sch.err
		}
	} else if err := fastPayload(st, o, false, &top, &topRows); err != nil { // payload/schema are no columns
		return Message{}, err
	}
	var before, after rowParse
	msg, ti, steps, n, done, err := d.altHead(topic, p, keyID, hasKey, &before, &after)
	if err != nil || done {
		return msg, err
	}
	for _, step := range steps[:n] {
		if err := rows.fill(d, st, ti, step.img, schemaCols(sch, step.img, ti), step.row); err != nil {
			return Message{}, err
		}
	}
	return d.altTail(msg, ti, p, &before, &after, keyID, hasKey)
}

func BenchmarkDecodeFastEnvelope(b *testing.B) {
	benchDecode(b, "envelope.jsonl", (*Decoder).decodeFast)
}
func BenchmarkDecodeFastFlat(b *testing.B) { benchDecode(b, "flat.jsonl", (*Decoder).decodeFast) }
func BenchmarkDecodeFastValidatedEnvelope(b *testing.B) {
	benchDecode(b, "envelope.jsonl", (*Decoder).decodeFastValidated)
}
func BenchmarkDecodeFastValidatedFlat(b *testing.B) {
	benchDecode(b, "flat.jsonl", (*Decoder).decodeFastValidated)
}
