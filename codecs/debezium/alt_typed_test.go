package debezium

// Alternative decoder (a): encoding/json into typed structs. Test-only: it
// exists to benchmark the hand-written scanner against (see
// BenchmarkDecodeTyped) and is checked against Decoder.Decode by
// TestAltDecodersEquivalent.
//
// Shared with alt_fast_test.go (parser-neutral, no scan.go code): altVal,
// altColumn/altMoney/altTime (value -> rowParse), altHead/altTail (the semantics
// of build: table, op, position, required columns, id fallback, TOAST
// fill-in). Reused from production code: numbers.go (parseJSONInt,
// parseJSONUint, decimalTextToCents, base64DecimalToCents), timeparse.go,
// tables.go, schema.go (analyzeSchema via schemaCache.get), and rows.go's
// fillMessage/fillUnchanged/looksLikeDecimalText. Text reaches rowParse
// already unescaped, so joinText never calls appendUnescaped.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// ---- parser-neutral part, shared by both alternatives ----------------------

// altVal is one column value as a parser hands it over.
type altVal struct {
	kind    byte   // 'n' null, '"' string, '0' number, '{' object, '?' other
	text    []byte // unescaped string content, or number text
	vsScale int64  // VariableScaleDecimal {"scale":n,"value":"b64"}
	vsValue []byte
	vsOK    bool
}

// altPayload is what an alternative found in a payload.
type altPayload struct {
	wrapped, envelope   bool
	op                  byte
	hasOp               bool
	table               []byte
	hasTable            bool
	lsn                 uint64
	seq                 sequence
	srcTs               int64
	hasSrcTs            bool
	envTs               int64
	deleted             bool
	hasBefore, hasAfter bool // non-null images present (envelope)
}

func altErr(field, what string) error { return &DecodeError{Field: field, Reason: what} }

func (d *Decoder) altColumn(ti, ci int, v altVal, cs *colSchema, row *rowParse) error {
	bit := uint16(1) << ci
	row.seen |= bit
	row.unavailable &^= bit
	if v.kind == 'n' {
		row.present &^= bit
		row.i[ci], row.text[ci] = 0, nil
		return nil
	}
	col := &tableDefs[ti].cols[ci]
	switch col.kind {
	case ckInt, ckIntNull:
		if v.kind != '0' {
			return altErr(col.name, "integer")
		}
		x, e := parseJSONInt(v.text)
		if e != numOK {
			return altErr(col.name, "64-bit integer")
		}
		row.i[ci] = x
	case ckText, ckTextNull:
		if v.kind != '"' {
			return altErr(col.name, "string")
		}
		raw := v.text
		if d.placeholder != "" && string(raw) == d.placeholder {
			row.unavailable |= bit
			raw = nil
		}
		row.text[ci] = raw
	case ckMoney:
		x, err := d.altMoney(v, cs, col.name)
		if err != nil {
			return err
		}
		row.i[ci] = x
	case ckTime:
		x, err := altTime(v, cs, col.name)
		if err != nil {
			return err
		}
		row.i[ci] = x
	}
	row.present |= bit
	return nil
}

func (d *Decoder) altMoney(v altVal, cs *colSchema, name string) (int64, error) {
	var x int64
	var e numErr
	switch v.kind {
	case '"':
		switch cs.dec {
		case decBytes:
			scale := d.defaultScale
			if cs.hasScale {
				scale = cs.scale
			}
			x, e = base64DecimalToCents(v.text, scale)
		case decString, decDouble:
			x, e = decimalTextToCents(v.text)
		case decVariable:
			return 0, altErr(name, "VariableScaleDecimal")
		default:
			if looksLikeDecimalText(v.text) {
				x, e = decimalTextToCents(v.text)
			} else {
				x, e = base64DecimalToCents(v.text, d.defaultScale)
			}
		}
	case '{':
		if cs.dec != decUnknown && cs.dec != decVariable || !v.vsOK || v.vsScale < -1<<31 || v.vsScale > 1<<31-1 {
			return 0, altErr(name, "VariableScaleDecimal")
		}
		x, e = base64DecimalToCents(v.vsValue, int32(v.vsScale))
	case '0':
		if cs.dec == decVariable {
			return 0, altErr(name, "VariableScaleDecimal")
		}
		x, e = decimalTextToCents(v.text)
	default:
		return 0, altErr(name, "decimal")
	}
	if e != numOK {
		return 0, altErr(name, "bad decimal")
	}
	return x, nil
}

func altTime(v altVal, cs *colSchema, name string) (int64, error) {
	switch v.kind {
	case '0':
		if cs.time == tuZoned {
			return 0, altErr(name, "zoned timestamp")
		}
		x, e := parseJSONInt(v.text)
		if e != numOK {
			return 0, altErr(name, "integer timestamp")
		}
		us, e := intTimeToMicros(x, cs.time)
		if e != numOK {
			return 0, altErr(name, "timestamp overflow")
		}
		return us, nil
	case '"':
		if cs.time != tuZoned && cs.time != tuUnknown {
			return 0, altErr(name, "integer timestamp")
		}
		us, ok := parseISOTimestamp(v.text)
		if !ok {
			return 0, altErr(name, "ISO-8601 timestamp")
		}
		return us, nil
	}
	return 0, altErr(name, "timestamp")
}

// altSequence parses the two LSNs of a source.sequence array.
func altSequence(vals [2]*string, n int) (sequence, bool) {
	if n != 2 {
		return sequence{}, false
	}
	var lsns [2]uint64
	for i, s := range vals {
		if s == nil {
			continue
		}
		x, e := parseJSONUint([]byte(*s))
		if e != numOK {
			return sequence{}, false
		}
		lsns[i] = x
	}
	if vals[1] == nil {
		return sequence{}, true
	}
	return sequence{ok: true, commit: lsns[0], lsn: lsns[1]}, true
}

// altStep is one row image to decode into row.
type altStep struct {
	img int
	row *rowParse
}

// altHead is the first half of build() over pre-parsed payload state:
// table, op and position. done reports a finished message (a truncate);
// otherwise the caller decodes the images steps names (with its own,
// concrete row type: an interface call would move the rows to the heap)
// and calls altTail.
func (d *Decoder) altHead(topic string, p *altPayload, keyID int64, hasKeyID bool, before, after *rowParse) (msg Message, ti int, steps [2]altStep, n int, done bool, err error) {
	if p.hasTable {
		if ti = tableIndex(p.table); ti < 0 {
			return Message{}, 0, steps, 0, false, altErr("table", "unknown table")
		}
	} else if ti = tableIndexString(topic[strings.LastIndexByte(topic, '.')+1:]); ti < 0 {
		return Message{}, 0, steps, 0, false, altErr("topic", "unknown table")
	}
	op := p.op
	switch {
	case p.hasOp:
		if !validOp(op) {
			return Message{}, 0, steps, 0, false, altErr("op", "invalid op")
		}
		if !p.envelope && p.deleted && op != 't' {
			op = 'd'
		}
	case p.envelope:
		return Message{}, 0, steps, 0, false, altErr("op", "missing")
	case p.deleted:
		op = 'd'
	default:
		op = 'u'
	}
	msg = Message{Table: tableDefs[ti].name, Op: Op(op), Pos: Position{LSN: p.lsn, TsMs: p.envTs}}
	if p.hasSrcTs {
		msg.Pos.TsMs = p.srcTs
	}
	if p.seq.ok {
		msg.Pos.Sequenced, msg.Pos.Commit, msg.Pos.LSN = true, p.seq.commit, p.seq.lsn
	}
	msg.Pos.Snapshot = op == 'r' && msg.Pos.Commit == 0
	if op == 't' {
		msg.Kind = KindTruncate
		if hasKeyID {
			msg.ID = keyID
		}
		return msg, ti, steps, 0, true, nil
	}
	msg.Kind = KindChange
	switch {
	case !p.envelope && op == 'd':
		steps[0], n = altStep{imgFlat, before}, 1
	case !p.envelope:
		steps[0], n = altStep{imgFlat, after}, 1
	default:
		if p.hasAfter {
			steps[n], n = altStep{imgAfter, after}, n+1
		}
		if p.hasBefore {
			steps[n], n = altStep{imgBefore, before}, n+1
		}
	}
	return msg, ti, steps, n, false, nil
}

// altTail is the second half of build(), once the images are decoded.
func (d *Decoder) altTail(msg Message, ti int, p *altPayload, before, after *rowParse, keyID int64, hasKeyID bool) (Message, error) {
	op := byte(msg.Op)
	hasBefore, hasAfter := p.hasBefore, p.hasAfter
	if !p.envelope {
		hasBefore, hasAfter = op == 'd', op != 'd'
	}
	if op != 'd' {
		if !hasAfter {
			return Message{}, altErr("after", "missing")
		}
		for ci, col := range tableDefs[ti].cols {
			if col.required && after.present&(1<<ci) == 0 {
				return Message{}, altErr(col.name, "required column missing")
			}
		}
	}
	switch {
	case hasKeyID:
		msg.ID = keyID
	case hasAfter && after.present&1 != 0:
		msg.ID = after.i[0]
	case hasBefore && before.present&1 != 0:
		msg.ID = before.i[0]
	default:
		return Message{}, altErr("key", "no entity id")
	}
	if op == 'd' {
		hasBefore = true
		if before.present&1 == 0 {
			before.i[0] = msg.ID
		}
	}
	if hasAfter && hasBefore && after.unavailable != 0 {
		fillUnchanged(after, before)
	}
	var bp, ap *rowParse
	if hasBefore {
		bp = before
	}
	if hasAfter {
		ap = after
	}
	fillMessage(&msg, ti, bp, ap)
	if ap != nil {
		msg.Unchanged = ColumnSet(ap.unavailable)
	}
	return msg, nil
}

// altBlank reports an empty/blank or null value (a tombstone).
func altBlank(v []byte) bool {
	t := bytes.TrimLeft(v, " \t\r\n")
	t = bytes.TrimRight(t, " \t\r\n")
	return len(t) == 0 || string(t) == "null"
}

// ---- (a) encoding/json into typed structs -----------------------------------

// tRaw keeps a value's bytes without copying (valid while the input is).
type tRaw []byte

func (r *tRaw) UnmarshalJSON(b []byte) error { *r = b; return nil }

// tRow is the union of the three tables' columns. The columns stay raw:
// their JSON type depends on decimal.handling.mode / time.precision.mode.
type tRow struct {
	ID            tRaw `json:"id"`
	Name          tRaw `json:"name"`
	Description   tRaw `json:"description"`
	Price         tRaw `json:"price"`
	StockQuantity tRaw `json:"stock_quantity"`
	CreatedAt     tRaw `json:"created_at"`
	UpdatedAt     tRaw `json:"updated_at"`
	CustomerID    tRaw `json:"customer_id"`
	TotalAmount   tRaw `json:"total_amount"`
	Status        tRaw `json:"status"`
	OrderID       tRaw `json:"order_id"`
	ProductID     tRaw `json:"product_id"`
	Quantity      tRaw `json:"quantity"`
}

// col returns the raw value of column ci of table ti (nil when absent).
func (r *tRow) col(ti, ci int) tRaw {
	switch tableDefs[ti].cols[ci].name {
	case "id":
		return r.ID
	case "name":
		return r.Name
	case "description":
		return r.Description
	case "price":
		return r.Price
	case "stock_quantity":
		return r.StockQuantity
	case "created_at":
		return r.CreatedAt
	case "updated_at":
		return r.UpdatedAt
	case "customer_id":
		return r.CustomerID
	case "total_amount":
		return r.TotalAmount
	case "status":
		return r.Status
	case "order_id":
		return r.OrderID
	case "product_id":
		return r.ProductID
	case "quantity":
		return r.Quantity
	}
	return nil
}

type tSource struct {
	Table    *string `json:"table"`
	Lsn      uint64  `json:"lsn"`
	Sequence *string `json:"sequence"`
	TsMs     *int64  `json:"ts_ms"`
}

type tPayload struct {
	tRow              // flat (ExtractNewRecordState) columns
	Before   *tRow    `json:"before"`
	After    *tRow    `json:"after"`
	Source   *tSource `json:"source"`
	Op       string   `json:"op"`
	TsMs     int64    `json:"ts_ms"`
	XOp      string   `json:"__op"`
	SrcTs    *int64   `json:"__source_ts_ms"`
	SrcTable *string  `json:"__source_table"`
	Lsn      uint64   `json:"__lsn"`
	SrcLsn   uint64   `json:"__source_lsn"`
	SrcSeq   *string  `json:"__source_sequence"`
	Seq      *string  `json:"__sequence"`
	Deleted  tRaw     `json:"__deleted"`
}

type tTop struct {
	tPayload
	Schema  tRaw      `json:"schema"`
	Payload *tPayload `json:"payload"`
}

func (tp *tPayload) empty() bool {
	return tp.Before == nil && tp.After == nil && tp.Source == nil && tp.Op == "" && tp.XOp == "" && tp.ID == nil
}

// tRows reads the row images of a tPayload.
type tRows struct{ p *tPayload }

func (r tRows) fill(d *Decoder, ti, img int, cols *[maxCols]colSchema, row *rowParse) error {
	src := &r.p.tRow
	switch img {
	case imgAfter:
		src = r.p.After
	case imgBefore:
		src = r.p.Before
	}
	for ci := range tableDefs[ti].cols {
		raw := src.col(ti, ci)
		if raw == nil {
			continue
		}
		v, err := typedVal(raw)
		if err != nil {
			return err
		}
		if err := d.altColumn(ti, ci, v, &cols[ci], row); err != nil {
			return err
		}
	}
	return nil
}

// typedVal classifies a raw column value.
func typedVal(raw tRaw) (altVal, error) {
	switch c := raw[0]; {
	case c == 'n':
		return altVal{kind: 'n'}, nil
	case c == '"':
		content := raw[1 : len(raw)-1]
		if bytes.IndexByte(content, '\\') >= 0 {
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return altVal{}, err
			}
			content = []byte(s)
		}
		return altVal{kind: '"', text: content}, nil
	case c == '{':
		var vs struct {
			Scale *int64  `json:"scale"`
			Value *string `json:"value"`
		}
		if err := json.Unmarshal(raw, &vs); err != nil || vs.Scale == nil || vs.Value == nil {
			return altVal{kind: '{'}, nil
		}
		return altVal{kind: '{', vsOK: true, vsScale: *vs.Scale, vsValue: []byte(*vs.Value)}, nil
	case c == '-' || (c >= '0' && c <= '9'):
		return altVal{kind: '0', text: raw}, nil
	}
	return altVal{kind: '?'}, nil
}

func typedSeq(s *string, p *altPayload) error {
	if s == nil {
		return nil
	}
	var vals []*string
	if err := json.Unmarshal([]byte(*s), &vals); err != nil {
		return altErr("sequence", err.Error())
	}
	var two [2]*string
	copy(two[:], vals)
	seq, ok := altSequence(two, len(vals))
	if !ok {
		return altErr("sequence", "bad sequence")
	}
	p.seq = seq
	return nil
}

// typedPayload turns a decoded tPayload into altPayload.
func typedPayload(tp *tPayload, wrapped bool) (altPayload, error) {
	p := altPayload{wrapped: wrapped, envTs: tp.TsMs}
	p.envelope = tp.Before != nil || tp.After != nil || tp.Source != nil || tp.Op != ""
	p.hasBefore, p.hasAfter = tp.Before != nil, tp.After != nil
	op := tp.Op
	if op == "" {
		op = tp.XOp
	}
	if op != "" {
		p.hasOp = true
		if len(op) == 1 {
			p.op = op[0]
		}
	}
	p.lsn = tp.Lsn
	if tp.SrcLsn != 0 {
		p.lsn = tp.SrcLsn
	}
	if tp.SrcTable != nil {
		p.table, p.hasTable = []byte(*tp.SrcTable), true
	}
	if tp.SrcTs != nil {
		p.srcTs, p.hasSrcTs = *tp.SrcTs, true
	}
	seq := tp.SrcSeq
	if tp.Seq != nil {
		seq = tp.Seq
	}
	if s := tp.Source; s != nil {
		if s.Table != nil {
			p.table, p.hasTable = []byte(*s.Table), true
		}
		if s.Lsn != 0 {
			p.lsn = s.Lsn
		}
		if s.TsMs != nil {
			p.srcTs, p.hasSrcTs = *s.TsMs, true
		}
		if s.Sequence != nil {
			seq = s.Sequence
		}
	}
	if err := typedSeq(seq, &p); err != nil {
		return p, err
	}
	if len(tp.Deleted) > 0 {
		switch tp.Deleted[0] {
		case '"':
			p.deleted = string(tp.Deleted) == `"true"`
		case 't':
			p.deleted = true
		case 'f', 'n':
		default:
			return p, altErr("__deleted", "bad")
		}
	}
	return p, nil
}

// typedKeyID mirrors keyID with encoding/json.
func typedKeyID(key []byte) (int64, bool) {
	t := bytes.TrimSpace(key)
	if len(t) == 0 {
		return 0, false
	}
	if isNumber(t) {
		var n json.Number
		if json.Unmarshal(t, &n) != nil {
			return 0, false
		}
		id, e := parseJSONInt(t)
		return id, e == numOK
	}
	var k struct {
		ID      tRaw `json:"id"`
		Payload tRaw `json:"payload"`
	}
	if t[0] != '{' || json.Unmarshal(t, &k) != nil {
		return 0, false
	}
	num := func(r tRaw) (int64, bool) {
		id, e := parseJSONInt(r)
		return id, e == numOK
	}
	switch {
	case len(k.Payload) > 0 && isNumber(k.Payload):
		return num(k.Payload)
	case len(k.Payload) > 0 && k.Payload[0] == '{':
		var in struct {
			ID tRaw `json:"id"`
		}
		if json.Unmarshal(k.Payload, &in) != nil || len(in.ID) == 0 || !isNumber(in.ID) {
			return 0, false
		}
		return num(in.ID)
	case len(k.ID) > 0 && isNumber(k.ID):
		return num(k.ID)
	}
	return 0, false
}

// decodeTyped is Decode written with encoding/json and typed structs.
func (d *Decoder) decodeTyped(topic string, key, value []byte) (Message, error) {
	if altBlank(value) {
		id, ok := typedKeyID(key)
		return d.altTombstone(topic, id, ok), nil
	}
	var top tTop
	if err := json.Unmarshal(value, &top); err != nil {
		return Message{}, &DecodeError{Reason: "value is not a JSON object: " + err.Error()}
	}
	tp, wrapped := &top.tPayload, false
	var sch *schemaInfo
	if top.Payload == nil && top.empty() {
		// "payload":null (a tombstone) or no payload member at all?
		var probe struct {
			Payload tRaw `json:"payload"`
		}
		_ = json.Unmarshal(value, &probe)
		if probe.Payload != nil {
			id, ok := typedKeyID(key)
			return d.altTombstone(topic, id, ok), nil
		}
	}
	if top.Payload != nil {
		tp, wrapped = top.Payload, true
		if len(top.Schema) > 0 {
			switch top.Schema[0] {
			case '{':
				sch = d.cache.get(topic, top.Schema)
			case 'n':
			default:
				return Message{}, altErr("schema", "not an object")
			}
		}
		if sch != nil && sch.err != nil {
			return Message{}, sch.err
		}
	}
	p, err := typedPayload(tp, wrapped)
	if err != nil {
		return Message{}, err
	}
	id, ok := typedKeyID(key)
	var before, after rowParse
	msg, ti, steps, n, done, err := d.altHead(topic, &p, id, ok, &before, &after)
	if err != nil || done {
		return msg, err
	}
	rows := tRows{tp}
	for _, st := range steps[:n] {
		if err := rows.fill(d, ti, st.img, schemaCols(sch, st.img, ti), st.row); err != nil {
			return Message{}, err
		}
	}
	return d.altTail(msg, ti, &p, &before, &after, id, ok)
}

func (d *Decoder) altTombstone(topic string, id int64, ok bool) Message {
	m := Message{Kind: KindTombstone, Table: tableFromTopic(topic)}
	if ok {
		m.ID = id
	}
	return m
}

// ---- equivalence -------------------------------------------------------------

type altCase struct {
	name       string
	topic      string
	key, value []byte
	opts       DecoderOptions
}

func loadSampleDir(t *testing.T, dir string) []altCase {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	var out []altCase
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 1<<20)
		for n := 1; sc.Scan(); n++ {
			var r sampleRecord
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatalf("%s:%d: %v", f, n, err)
			}
			out = append(out, altCase{name: fmt.Sprintf("%s:%d", filepath.Base(f), n), topic: r.Topic, key: r.Key, value: r.Value})
		}
		fh.Close()
	}
	return out
}

// altExtraCases are inputs of the existing tests (decode_test.go,
// position_test.go) that succeed with Decode.
func altExtraCases() []altCase {
	var out []altCase
	add := func(name, topic, key, value string, opts DecoderOptions) {
		var k []byte
		if key != "" {
			k = []byte(key)
		}
		out = append(out, altCase{name: name, topic: topic, key: k, value: []byte(value), opts: opts})
	}
	for i, price := range []string{`"AA=="`, `"+y4="`, `"AlQL4/8="`, `"gA=="`, `"/4A="`, `"MDk"`, `{"scale":3,"value":"MDk="}`,
		`"12.34"`, `"-0.50"`, `"-5"`, `"0.005"`, `"-0.005"`, `"1234.00"`, `12.34`, `0.30000000000000004`, `1929.6099999999999`, `1e2`,
		`1.2345678E7`, `125E-3`, `-0.015`, `12`, `0.0`, `1e-300`} {
		add(fmt.Sprintf("decimal %d %s", i, price), "dbserver1.public.order_items", "", string(flatItem(price)), DecoderOptions{DefaultScale: 2})
	}
	for i, c := range [][2]string{
		{decimalSchema("2"), `"MDk="`}, {decimalSchema("0"), `"Dw=="`}, {decimalSchema("3"), `"MDk="`}, {decimalSchema("3"), `"z8c="`},
		{decimalSchema("4"), `"AeI6"`}, {decimalSchema("20"), `"Ap05Sl1jBUQAAA=="`}, {decimalSchema("3"), `"BP/////////2"`},
		{`{"type":"struct","name":"io.debezium.data.VariableScaleDecimal","field":"price"}`, `{"value":"Dw==","scale":0}`},
		{`{"type":"string","field":"price"}`, `"1234"`}, {`{"type":"double","field":"price"}`, `0.1`},
	} {
		add(fmt.Sprintf("decimal schema %d", i), "dbserver1.public.order_items", "", string(flatItemWithSchema(c[0], c[1])), DecoderOptions{DefaultScale: 2})
	}
	add("default scale 3", "t.order_items", "", string(flatItem(`"MDk="`)), DecoderOptions{DefaultScale: 3})
	add("partial delete", "dbserver1.public.order_items", `{"id":5}`, `{"before":{"id":5,"order_id":null,"product_id":null,"quantity":0,"price":"AA==","created_at":null},"after":null,"source":{"table":"order_items","lsn":10,"ts_ms":20},"op":"d","ts_ms":21}`, DecoderOptions{DefaultScale: 2})
	add("delete id only", "dbserver1.public.products", "", `{"before":{"id":6},"after":null,"source":{"table":"products"},"op":"d"}`, DecoderOptions{DefaultScale: 2})
	add("delete no before", "dbserver1.public.orders", `{"id":9}`, `{"before":null,"after":null,"source":{"table":"orders","ts_ms":3},"op":"d","ts_ms":4}`, DecoderOptions{DefaultScale: 2})
	idv := `{"after":{"id":42,"customer_id":1,"total_amount":"AA==","status":"x"},"op":"c","source":{"table":"orders"}}`
	for i, k := range []string{"", "{garbage", `{"schema":{},"payload":null}`, `{"id":null}`, `{"id":7}`, `7`, `{"schema":{"type":"int32"},"payload":8}`} {
		add(fmt.Sprintf("id fallback %d", i), "x.orders", k, idv, DecoderOptions{DefaultScale: 2})
	}
	add("delete id from before", "x.orders", "", `{"before":{"id":43},"op":"d","source":{"table":"orders"}}`, DecoderOptions{DefaultScale: 2})
	row := `"id":3,"name":"n","price":"1.00","stock_quantity":4`
	for i, v := range []string{`{` + row + `,"__deleted":"true"}`, `{` + row + `,"__deleted":"false"}`, `{` + row + `}`, `{` + row + `,"__op":"u","__deleted":"true"}`,
		`{` + row + `,"__lsn":77,"__source_ts_ms":5}`, `{` + row + `,"__source_lsn":78,"__source_ts_ms":5}`, `{` + row + `,"__source_lsn":null}`,
		`{"after":{` + row + `},"op":"c","source":{"lsn":null,"ts_ms":null},"ts_ms":9}`,
		`{"after":{` + row + `},"op":"c","source":{"lsn":18446744073709551615},"ts_ms":9}`,
		`{"after":{` + row + `},"op":"c","source":{"ts_ms":8},"ts_ms":9}`} {
		add(fmt.Sprintf("flat/positions %d", i), "x.products", "", v, DecoderOptions{DefaultScale: 2})
	}
	add("strings", "x.products", "", `{"after":{"id":1,"name":"Caf\u00e9 \"Deluxe\" \ud83d\ude00 \\ \/","description":"lone \udc00 x","price":"AA==","stock_quantity":0,`+
		`"color":"red","nested":{"a":[1,{"b":null}]},"name_extra":true},"op":"c","source":{"table":"products","extra":[1]},"transaction":{"id":"1"},"extra":1}`, DecoderOptions{DefaultScale: 2})
	add("escaped keys", "x.products", "", `{"\u0061fter":{"id":1,"n\u0061me":"x","price":"AA==","stock_quantity":0},"op":"\u0063"}`, DecoderOptions{DefaultScale: 2})
	for i, v := range []string{
		string(envelopeWith("u", `"sequence":"[\"22230528\",\"22230944\"]","lsn":22230944`, "null", productRow)),
		string(envelopeWith("r", `"snapshot":"true","sequence":"[null,\"22228992\"]","lsn":22228992`, "null", productRow)),
		string(envelopeWith("c", `"sequence":"[null,\"22230944\"]","lsn":22230944`, "null", productRow)),
		string(envelopeWith("u", `"sequence":null,"lsn":22230944`, "null", productRow)),
		`{"id":1,"name":"Laptop","price":"12.34","stock_quantity":5,"__op":"u","__source_ts_ms":1736931700000,"__source_table":"products","__source_lsn":22230944,"__source_sequence":"[\"22230528\",\"22230944\"]","__deleted":"false"}`,
		`{"id":1,"name":"Laptop","price":"12.34","stock_quantity":5,"__op":"u","__source_ts_ms":1736931700000,"__sequence":"[\"7\",\"9\"]","__deleted":"false"}`,
		`{"id":1,"name":"Laptop","price":"12.34","stock_quantity":5,"__op":"r","__source_ts_ms":1736931700000,"__deleted":"false"}`,
	} {
		add(fmt.Sprintf("sequence %d", i), "dbserver1.public.products", `{"id":1}`, v, DecoderOptions{DefaultScale: 2})
	}
	toasted := `{"id":1,"name":"Laptop","description":"__debezium_unavailable_value","price":"AYag","stock_quantity":90,"created_at":1736931600000000,"updated_at":null}`
	add("toast default", "dbserver1.public.products", `{"id":1}`, string(envelopeWith("u", `"sequence":null,"lsn":5`, "null", toasted)), DecoderOptions{DefaultScale: 2})
	add("toast full", "dbserver1.public.products", `{"id":1}`, string(envelopeWith("u", `"sequence":null,"lsn":5`, productRow, toasted)), DecoderOptions{DefaultScale: 2})
	add("toast name", "dbserver1.public.products", `{"id":1}`, string(envelopeWith("u", `"lsn":5`, "null", strings.Replace(toasted, `"Laptop"`, `"__debezium_unavailable_value"`, 1))), DecoderOptions{DefaultScale: 2})
	add("toast configured", "dbserver1.public.products", `{"id":1}`, string(envelopeWith("u", `"lsn":5`, "null", strings.Replace(toasted, "__debezium_unavailable_value", "<toast>", 1))), DecoderOptions{UnavailablePlaceholder: "<toast>"})
	add("truncate", "dbserver1.public.orders", "", `{"before":null,"after":null,"source":{"table":"orders","lsn":1},"op":"t","ts_ms":2}`, DecoderOptions{DefaultScale: 2})
	add("tombstone blank", "dbserver1.public.orders", `{"id":3}`, ``, DecoderOptions{DefaultScale: 2})
	add("tombstone payload null", "dbserver1.public.orders", `{"schema":{"type":"int32"},"payload":{"id":4}}`, `{"schema":{"type":"struct"},"payload":null}`, DecoderOptions{DefaultScale: 2})
	add("zoned time", "x.orders", "", `{"after":{"id":1,"customer_id":1,"total_amount":"AA==","status":"x","created_at":"2025-01-15T09:00:00.123456Z"},"op":"c"}`, DecoderOptions{DefaultScale: 2})
	add("milli time schema", "dbserver1.public.order_items", "", `{"schema":{"type":"struct","fields":[{"type":"int64","name":"io.debezium.time.Timestamp","field":"created_at"}]},"payload":{"id":1,"quantity":1,"price":"AA==","created_at":1736931600123,"__op":"c"}}`, DecoderOptions{DefaultScale: 2})
	// A few errors: the three must all fail (messages may differ).
	add("err not object", "x.orders", "", `[1]`, DecoderOptions{DefaultScale: 2})
	add("err no op", "x.orders", "", `{"after":{"id":1}}`, DecoderOptions{DefaultScale: 2})
	add("err required", "x.products", "", `{"after":{"id":1},"op":"c"}`, DecoderOptions{DefaultScale: 2})
	add("err bad price", "x.order_items", "", string(flatItem(`true`)), DecoderOptions{DefaultScale: 2})
	add("err bad sequence", "dbserver1.public.products", `{"id":1}`, string(envelopeWith("u", `"sequence":"[\"1\"]","lsn":2`, "null", productRow)), DecoderOptions{DefaultScale: 2})
	add("err syntax", "x.orders", "", `{"after":{"id":1,}`, DecoderOptions{DefaultScale: 2})
	return out
}

type altDecodeFunc func(d *Decoder, topic string, key, value []byte) (Message, error)

var altDecoders = []struct {
	name string
	fn   altDecodeFunc
}{
	{"typed", (*Decoder).decodeTyped},
	{"fastjson", (*Decoder).decodeFast},
	{"fastjson+validate", (*Decoder).decodeFastValidated},
}

func TestAltDecodersEquivalent(t *testing.T) {
	cases := loadSampleDir(t, "/work/shared/samples")
	if len(cases) == 0 {
		cases = loadSampleDir(t, "testdata")
	}
	nSamples := len(cases)
	cases = append(cases, altExtraCases()...)
	okCount, errCount := 0, 0
	for _, c := range cases {
		want, wantErr := NewDecoder(c.opts).Decode(c.topic, c.key, c.value)
		if wantErr != nil {
			errCount++
		} else {
			okCount++
		}
		for _, alt := range altDecoders {
			if alt.name != "typed" && c.name == "strings" {
				// fastjson unescapes a lone surrogate (\udc00) best-effort,
				// leaving the six characters; Decode and encoding/json give
				// U+FFFD. A known, reported difference.
				got, _ := alt.fn(NewDecoder(c.opts), c.topic, c.key, c.value)
				t.Logf("%s: %s: known difference: description %q, Decode %q", alt.name, c.name, got.AfterProduct.Description, want.AfterProduct.Description)
				continue
			}
			d := NewDecoder(c.opts)
			for pass := 0; pass < 2; pass++ { // cold and warm schema cache
				got, err := alt.fn(d, c.topic, c.key, c.value)
				if (err != nil) != (wantErr != nil) {
					t.Errorf("%s: %s: error %v, Decode error %v", alt.name, c.name, err, wantErr)
					continue
				}
				var de *DecodeError
				if err != nil && !errors.As(err, &de) {
					t.Errorf("%s: %s: error %T is not a *DecodeError", alt.name, c.name, err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s: %s:\n got %s\nwant %s", alt.name, c.name, dumpMessage(got), dumpMessage(want))
				}
			}
		}
	}
	t.Logf("%d cases (%d sample lines): %d decode, %d fail in all decoders", len(cases), nSamples, okCount, errCount)
}

func BenchmarkDecodeTypedEnvelope(b *testing.B) {
	benchDecode(b, "envelope.jsonl", (*Decoder).decodeTyped)
}
func BenchmarkDecodeTypedFlat(b *testing.B) { benchDecode(b, "flat.jsonl", (*Decoder).decodeTyped) }
