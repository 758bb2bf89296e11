package debezium

import (
	"bytes"
	"strconv"
	"strings"
)

// rowParse is a decoded row image before it becomes a typed struct. Text
// values stay raw (slices of the input) until fillMessage copies all the
// strings of a message into one allocation.
type rowParse struct {
	i       [maxCols]int64
	text    [maxCols][]byte // raw JSON string content
	escaped uint16          // text columns whose raw content has escapes
	seen    uint16          // columns present in the JSON (including null)
	present uint16          // columns present with a non-null value
	// unavailable marks text columns that carried the unavailable-value
	// placeholder (an unchanged TOASTed value): present, text empty.
	unavailable uint16
}

// buildState is the per-message state of the row decoder.
type buildState struct {
	d *Decoder
}

// noSchema is the column description used without a schema (all zero:
// representations are inferred from the JSON values). Never written.
var noSchema [maxCols]colSchema

func schemaCols(sch *schemaInfo, img, ti int) *[maxCols]colSchema {
	if sch == nil {
		return &noSchema
	}
	return &sch.cols[img][ti]
}

// imageBase returns the JSON path prefix of a row image's columns.
func imageBase(wrapped bool, img int) string {
	switch {
	case img == imgAfter && wrapped:
		return "payload.after."
	case img == imgAfter:
		return "after."
	case img == imgBefore && wrapped:
		return "payload.before."
	case img == imgBefore:
		return "before."
	case wrapped:
		return "payload."
	}
	return ""
}

// build turns a parsed payload into a Message: table, op, position, rows, id.
// keyID is the entity id the record's key gave, when hasKeyID. Row images
// are JSON spans read with sch, or Avro records (p.beforeNode, p.afterNode,
// member.node).
func (d *Decoder) build(topic string, keyID int64, hasKeyID bool, p *payloadState, sch *schemaInfo) (Message, error) {
	wrapped := p.prefix != ""
	var ti int
	if p.hasTable {
		if ti = tableIndex(p.table); ti < 0 {
			return Message{}, typeError(p.tableField(p.tableInSrc), "products, orders or order_items", p.table)
		}
	} else {
		seg := topic[strings.LastIndexByte(topic, '.')+1:]
		if ti = tableIndexString(seg); ti < 0 {
			return Message{}, &DecodeError{Field: "topic", Reason: "unknown table " + strconv.Quote(excerpt([]byte(seg))) + " (no source table in the message; expected products, orders or order_items)"}
		}
	}

	op := p.op
	var opField string
	switch {
	case p.envelope && wrapped:
		opField = "payload.op"
	case p.envelope:
		opField = "op"
	case wrapped:
		opField = "payload.__op"
	default:
		opField = "__op"
	}
	switch {
	case p.hasOp:
		if !validOp(op) {
			return Message{}, typeError(opField, `one of "r", "c", "u", "d", "t"`, p.opRaw)
		}
		if !p.envelope && p.deleted && op != 't' {
			op = 'd' // __deleted "true": the columns are the old row
		}
	case p.envelope:
		return Message{}, &DecodeError{Field: opField, Reason: "missing: a change envelope needs an op"}
	case p.deleted:
		op = 'd'
	default:
		op = 'u'
	}

	msg := Message{Table: tableDefs[ti].name, Op: Op(op), Pos: Position{LSN: p.lsn, TsMs: p.envTs}}
	if p.hasSrcTs {
		msg.Pos.TsMs = p.srcTs
	}
	if p.seq.ok {
		msg.Pos.Sequenced, msg.Pos.Commit, msg.Pos.LSN = true, p.seq.commit, p.seq.lsn
	}
	// A snapshot read without a last commit LSN is part of the initial
	// snapshot, consistent as of the slot's start: before every streamed
	// change. (An incremental snapshot's reads carry the offset's sequence.)
	msg.Pos.Snapshot = op == 'r' && msg.Pos.Commit == 0
	if op == 't' {
		msg.Kind = KindTruncate
		if hasKeyID {
			msg.ID = keyID
		}
		return msg, nil
	}
	msg.Kind = KindChange

	st := buildState{d: d}
	var before, after rowParse
	var hasBefore, hasAfter bool
	var afterImg int
	if p.envelope {
		afterImg = imgAfter
		if p.hasAfter && rowSent(p.after, p.afterNode) {
			hasAfter = true
			if err := st.parseRow(ti, p.after, p.afterNode, schemaCols(sch, imgAfter, ti), imageBase(wrapped, imgAfter), &after); err != nil {
				return Message{}, err
			}
		}
		if p.hasBefore && rowSent(p.before, p.beforeNode) {
			hasBefore = true
			if err := st.parseRow(ti, p.before, p.beforeNode, schemaCols(sch, imgBefore, ti), imageBase(wrapped, imgBefore), &before); err != nil {
				return Message{}, err
			}
		}
	} else {
		afterImg = imgFlat
		target := &after
		if op == 'd' {
			target, hasBefore = &before, true
		} else {
			hasAfter = true
		}
		cols := schemaCols(sch, imgFlat, ti)
		base := imageBase(wrapped, imgFlat)
		for k := 0; k < p.ncols; k++ {
			ci := columnIndex(ti, p.cols[k].key)
			if ci < 0 {
				continue
			}
			var err *DecodeError
			if n := p.cols[k].node; n != nil {
				err = st.avroColumn(ti, ci, &avroReader{data: p.cols[k].val}, n, target, base)
			} else {
				err = st.column(ti, ci, p.cols[k].val, &cols[ci], target, base)
			}
			if err != nil {
				return Message{}, err
			}
		}
	}

	if op != 'd' {
		if !hasAfter {
			field := "after"
			if wrapped {
				field = "payload.after"
			}
			return Message{}, &DecodeError{Field: field, Reason: "row image required for op " + string(rune(op)) + " is missing or null"}
		}
		for ci, col := range tableDefs[ti].cols {
			if !col.required {
				continue
			}
			bit := uint16(1) << ci
			if after.present&bit == 0 {
				reason := "required (NOT NULL) column is missing"
				if after.seen&bit != 0 {
					reason = "required (NOT NULL) column is null"
				}
				return Message{}, &DecodeError{Field: imageBase(wrapped, afterImg) + col.name, Reason: reason}
			}
		}
	}

	switch {
	case hasKeyID:
		msg.ID = keyID
	case hasAfter && after.present&1 != 0: // column 0 is the id in every table
		msg.ID = after.i[0]
	case hasBefore && before.present&1 != 0:
		msg.ID = before.i[0]
	default:
		return Message{}, &DecodeError{Field: "key", Reason: "no entity id in the key or the row"}
	}
	if op == 'd' {
		// REPLICA IDENTITY DEFAULT sends only the key columns, or none:
		// the old row is partial, its id falls back to the entity id.
		hasBefore = true
		if before.present&1 == 0 {
			before.i[0] = msg.ID
		}
	}

	if hasAfter && hasBefore && after.unavailable != 0 {
		fillUnchanged(&after, &before)
	}
	var bp, ap *rowParse
	if hasBefore {
		bp = &before
	}
	if hasAfter {
		ap = &after
	}
	fillMessage(&msg, ti, bp, ap)
	if ap != nil {
		msg.Unchanged = ColumnSet(ap.unavailable)
	}
	return msg, nil
}

// fillUnchanged takes the values of after's unavailable (unchanged TOASTed)
// columns from the before image where it has them: under REPLICA IDENTITY
// FULL the old row is complete, and unchanged means equal to it.
func fillUnchanged(after, before *rowParse) {
	for ci := range maxCols {
		bit := uint16(1) << ci
		if after.unavailable&bit == 0 || before.present&bit == 0 || before.unavailable&bit != 0 {
			continue
		}
		after.text[ci] = before.text[ci]
		after.escaped = after.escaped&^bit | before.escaped&bit
		after.unavailable &^= bit
	}
}

func validOp(op byte) bool {
	switch op {
	case 'r', 'c', 'u', 'd', 't':
		return true
	}
	return false
}

// fillMessage allocates the typed rows (one allocation for both images).
func fillMessage(msg *Message, ti int, before, after *rowParse) {
	text, offs := joinText(before, after)
	str := func(r *rowParse, ci int) string {
		k := ci
		if r == after {
			k += maxCols
		}
		return text[offs[k][0]:offs[k][1]]
	}
	switch ti {
	case tiProducts:
		fill := func(dst *Product, r *rowParse) {
			*dst = Product{ID: r.i[pID], Name: str(r, pName), Description: str(r, pDescription), PriceCents: r.i[pPrice],
				StockQuantity: r.i[pStock], CreatedAt: r.i[pCreated], UpdatedAt: r.i[pUpdated]}
		}
		rows := make([]Product, btoi(before != nil)+btoi(after != nil))
		if before != nil {
			msg.BeforeProduct = &rows[0]
			fill(msg.BeforeProduct, before)
		}
		if after != nil {
			msg.AfterProduct = &rows[len(rows)-1]
			fill(msg.AfterProduct, after)
		}
	case tiOrders:
		fill := func(dst *Order, r *rowParse) {
			*dst = Order{ID: r.i[oID], CustomerID: r.i[oCustomer], TotalCents: r.i[oTotal], Status: str(r, oStatus),
				CreatedAt: r.i[oCreated], UpdatedAt: r.i[oUpdated]}
		}
		rows := make([]Order, btoi(before != nil)+btoi(after != nil))
		if before != nil {
			msg.BeforeOrder = &rows[0]
			fill(msg.BeforeOrder, before)
		}
		if after != nil {
			msg.AfterOrder = &rows[len(rows)-1]
			fill(msg.AfterOrder, after)
		}
	case tiOrderItems:
		fill := func(dst *OrderItem, r *rowParse) {
			*dst = OrderItem{ID: r.i[iID], OrderID: r.i[iOrder], ProductID: r.i[iProduct], Quantity: r.i[iQuantity],
				PriceCents: r.i[iPrice], CreatedAt: r.i[iCreated]}
		}
		rows := make([]OrderItem, btoi(before != nil)+btoi(after != nil))
		if before != nil {
			msg.BeforeItem = &rows[0]
			fill(msg.BeforeItem, before)
		}
		if after != nil {
			msg.AfterItem = &rows[len(rows)-1]
			fill(msg.AfterItem, after)
		}
	}
}

// joinText copies the text columns of both images into one string and
// returns it with the offsets of each column (after's at maxCols+ci).
func joinText(before, after *rowParse) (string, [2 * maxCols][2]int) {
	var offs [2 * maxCols][2]int
	total := 0
	for _, r := range [2]*rowParse{before, after} {
		if r != nil {
			for _, t := range r.text {
				total += len(t)
			}
		}
	}
	if total == 0 {
		return "", offs
	}
	var sb strings.Builder
	sb.Grow(total) // unescaping never lengthens
	for k, r := range [2]*rowParse{before, after} {
		if r == nil {
			continue
		}
		for ci, t := range r.text {
			start := sb.Len()
			if r.escaped&(1<<ci) != 0 {
				sb.Write(appendUnescaped(nil, t))
			} else {
				sb.Write(t)
			}
			offs[k*maxCols+ci] = [2]int{start, sb.Len()}
		}
	}
	return sb.String(), offs
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// rowSent reports whether a row image member holds a row (not null).
func rowSent(v []byte, node *avroNode) bool {
	return node != nil || (len(v) > 0 && v[0] != 'n')
}

// parseRow decodes a row image into row: an object span (validated JSON)
// read with cols, or, when node is set, the Avro binary of that record.
func (st *buildState) parseRow(ti int, v []byte, node *avroNode, cols *[maxCols]colSchema, base string, row *rowParse) *DecodeError {
	if node != nil {
		return st.avroRow(ti, v, node, base, row)
	}
	if v[0] != '{' {
		return typeError(base[:len(base)-1], "row object", v)
	}
	s := scanner{data: v}
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
		ci := columnIndex(ti, k)
		if ci < 0 {
			continue // unknown columns are ignored
		}
		if err := st.column(ti, ci, f, &cols[ci], row, base); err != nil {
			return err
		}
	}
}

// column decodes one column value (validated JSON) into row.
func (st *buildState) column(ti, ci int, v []byte, cs *colSchema, row *rowParse, base string) *DecodeError {
	if v[0] == 'n' {
		row.setNull(ci)
		return nil
	}
	col := &tableDefs[ti].cols[ci]
	switch col.kind {
	case ckInt, ckIntNull:
		if !isNumber(v) {
			return typeError(base+col.name, "integer", v)
		}
		x, e := parseJSONInt(v)
		if e != numOK {
			return typeError(base+col.name, "64-bit integer", v)
		}
		row.setInt(ci, x)
	case ckText, ckTextNull:
		if v[0] != '"' {
			return typeError(base+col.name, "string", v)
		}
		raw := v[1 : len(v)-1]
		st.setText(row, ci, raw, bytes.IndexByte(raw, '\\') >= 0)
	case ckMoney:
		x, err := st.d.money(v, cs, base, col.name)
		if err != nil {
			return err
		}
		row.setInt(ci, x)
	case ckTime:
		x, err := timeValue(v, cs, base, col.name)
		if err != nil {
			return err
		}
		row.setInt(ci, x)
	}
	return nil
}

// setNull records a NULL column.
func (row *rowParse) setNull(ci int) {
	bit := uint16(1) << ci
	row.seen |= bit
	row.present &^= bit
	row.unavailable &^= bit
	row.escaped &^= bit
	row.i[ci], row.text[ci] = 0, nil
}

// setInt records an integer, money (cents) or time (µs) column.
func (row *rowParse) setInt(ci int, x int64) {
	bit := uint16(1) << ci
	row.seen |= bit
	row.present |= bit
	row.unavailable &^= bit
	row.i[ci] = x
}

// setText records a text column: raw is JSON string content (escaped
// says it has escapes) or literal text (escaped false). The
// unavailable-value placeholder marks the column unchanged instead.
func (st *buildState) setText(row *rowParse, ci int, raw []byte, escaped bool) {
	bit := uint16(1) << ci
	row.seen |= bit
	row.present |= bit
	row.unavailable &^= bit
	if st.d.placeholder != "" && string(raw) == st.d.placeholder {
		// Unchanged TOASTed value: the previous value stands.
		row.unavailable |= bit
		raw, escaped = nil, false
	}
	row.text[ci] = raw
	if escaped {
		row.escaped |= bit
	} else {
		row.escaped &^= bit
	}
}

// looksLikeDecimalText tells a schemaless decimal string ("12.34", "-5")
// from base64, whose alphabet has neither '.' nor '-' ('+' is base64).
// Debezium's string mode always prints the scale digits, so digit-only
// strings are taken as base64.
func looksLikeDecimalText(raw []byte) bool {
	if bytes.IndexByte(raw, '.') >= 0 {
		return true
	}
	if len(raw) < 2 || raw[0] != '-' {
		return false
	}
	for _, c := range raw[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// money decodes a DECIMAL value into cents. The field path base+name is
// only built for errors.
func (d *Decoder) money(v []byte, cs *colSchema, base, name string) (int64, *DecodeError) {
	var (
		x        int64
		e        numErr
		expected string
	)
	switch {
	case v[0] == '"':
		raw := stringContent(v)
		switch cs.dec {
		case decBytes:
			scale := d.defaultScale
			if cs.hasScale {
				scale = cs.scale
			}
			expected = "base64 decimal bytes"
			x, e = base64DecimalToCents(raw, scale)
		case decString, decDouble:
			expected = "decimal string"
			x, e = decimalTextToCents(raw)
		case decVariable:
			return 0, typeError(base+name, `VariableScaleDecimal {"scale":n,"value":base64}`, v)
		default:
			if looksLikeDecimalText(raw) {
				expected = "decimal string"
				x, e = decimalTextToCents(raw)
			} else {
				expected = "base64 decimal bytes"
				x, e = base64DecimalToCents(raw, d.defaultScale)
			}
		}
	case v[0] == '{':
		if cs.dec != decUnknown && cs.dec != decVariable {
			return 0, typeError(base+name, d.moneyExpected(cs), v)
		}
		expected = `VariableScaleDecimal {"scale":n,"value":base64}`
		x, e = variableScaleToCents(v)
	case isNumber(v):
		// A Decimal (precise) field is a plain number with the
		// JsonConverter's decimal.format=NUMERIC; double mode prints one.
		if cs.dec == decVariable {
			return 0, typeError(base+name, d.moneyExpected(cs), v)
		}
		expected = "decimal number"
		x, e = decimalTextToCents(v)
	default:
		return 0, typeError(base+name, d.moneyExpected(cs), v)
	}
	if e == numOK {
		return x, nil
	}
	return centsResult(x, e, base+name, expected, excerpt(v))
}

// centsResult turns the outcome of a money conversion into the result of
// a column decode; got is the excerpt of the value errors quote.
func centsResult(x int64, e numErr, field, expected, got string) (int64, *DecodeError) {
	switch e {
	case numOK:
		return x, nil
	case numOverflow:
		return 0, &DecodeError{Field: field, Reason: "decimal " + got + " does not fit in int64 cents"}
	case numTooLong:
		return 0, &DecodeError{Field: field, Reason: "decimal value is implausibly long"}
	}
	return 0, &DecodeError{Field: field, Expected: expected, Got: got}
}

func (d *Decoder) moneyExpected(cs *colSchema) string {
	switch cs.dec {
	case decBytes:
		return "base64 decimal bytes (string), or a number with decimal.format=NUMERIC"
	case decVariable:
		return `VariableScaleDecimal {"scale":n,"value":base64}`
	case decString:
		return "decimal string"
	case decDouble:
		return "decimal number"
	}
	return "decimal (base64 string, decimal string or number)"
}

// variableScaleToCents decodes io.debezium.data.VariableScaleDecimal:
// {"scale":n,"value":"<base64 unscaled>"}.
func variableScaleToCents(v []byte) (int64, numErr) {
	s := scanner{data: v}
	if s.beginObject() != nil {
		return 0, numSyntax
	}
	var (
		scale          int64
		value          []byte
		hasScale, hasV bool
	)
	for n := 0; ; n++ {
		k, done, err := s.nextMember(n)
		if err != nil {
			return 0, numSyntax
		}
		if done {
			break
		}
		f, err := s.valueSpan()
		if err != nil {
			return 0, numSyntax
		}
		switch string(k) {
		case "scale":
			if !isNumber(f) {
				return 0, numSyntax
			}
			x, e := parseJSONInt(f)
			if e != numOK || x < -1<<31 || x > 1<<31-1 {
				return 0, numSyntax
			}
			scale, hasScale = x, true
		case "value":
			if f[0] != '"' {
				return 0, numSyntax
			}
			value, hasV = stringContent(f), true
		}
	}
	if !hasScale || !hasV {
		return 0, numSyntax
	}
	return base64DecimalToCents(value, int32(scale))
}

// timeValue decodes a TIMESTAMP value into Unix µs.
func timeValue(v []byte, cs *colSchema, base, name string) (int64, *DecodeError) {
	switch {
	case isNumber(v):
		if cs.time == tuZoned {
			return 0, typeError(base+name, timeExpected(cs.time), v)
		}
		x, e := parseJSONInt(v)
		if e != numOK {
			return 0, typeError(base+name, timeExpected(cs.time), v)
		}
		us, e := intTimeToMicros(x, cs.time)
		if e != numOK {
			return 0, &DecodeError{Field: base + name, Reason: "timestamp " + excerpt(v) + " overflows int64 microseconds"}
		}
		return us, nil
	case v[0] == '"':
		if cs.time != tuZoned && cs.time != tuUnknown {
			return 0, typeError(base+name, timeExpected(cs.time), v)
		}
		us, ok := parseISOTimestamp(stringContent(v))
		if !ok {
			return 0, typeError(base+name, "ISO-8601 timestamp", v)
		}
		return us, nil
	}
	return 0, typeError(base+name, timeExpected(cs.time), v)
}

func timeExpected(tu timeUnit) string {
	switch tu {
	case tuMicro:
		return "integer microseconds (io.debezium.time.MicroTimestamp)"
	case tuMilli:
		return "integer milliseconds (io.debezium.time.Timestamp)"
	case tuNano:
		return "integer nanoseconds (io.debezium.time.NanoTimestamp)"
	case tuZoned:
		return "ISO-8601 string (io.debezium.time.ZonedTimestamp)"
	}
	return "timestamp (integer or ISO-8601 string)"
}
