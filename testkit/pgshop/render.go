package pgshop

import (
	"encoding/base64"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"strconv"
	"unicode/utf8"
)

// The connector's settings this rendering stands for.
const (
	TopicPrefix      = "dbserver1"   // topic.prefix (the source's name)
	ConnectorVersion = "2.7.3.Final" // source.version
	// Placeholder is unavailable.value.placeholder's default: what the
	// connector writes for an unchanged TOASTed value.
	Placeholder = "__debezium_unavailable_value"
)

// Topic is a table's topic: dbserver1.public.<table>.
func Topic(t *Table) string { return TopicPrefix + ".public." + t.Name }

// Format is a record shape.
type Format int

const (
	// FormatEnvelope is the connector's change event envelope with the
	// JsonConverter's schema wrapper (schemas.enable=true).
	FormatEnvelope Format = iota
	// FormatEnvelopeNoSchema is the envelope alone (schemas.enable=false).
	FormatEnvelopeNoSchema
	// FormatFlat is ExtractNewRecordState with delete.handling.mode=rewrite
	// and add.fields=op,source.ts_ms,source.db,source.table (plus
	// source.lsn and source.sequence when asked), drop.tombstones=false,
	// with the schema wrapper.
	FormatFlat
	// FormatFlatNoSchema is FormatFlat without the schema wrapper.
	FormatFlatNoSchema
	// FormatAvro is the envelope through Confluent's AvroConverter (keys
	// too): Avro binary in the Confluent wire format, schemas registered
	// through RenderOptions.Register (avro.go). RenderAvro renders it.
	FormatAvro
	// FormatAvroFlat is FormatFlat through the AvroConverter.
	FormatAvroFlat
)

func (f Format) schema() bool { return f == FormatEnvelope || f == FormatFlat }
func (f Format) flat() bool   { return f == FormatFlat || f == FormatFlatNoSchema || f == FormatAvroFlat }
func (f Format) avro() bool   { return f == FormatAvro || f == FormatAvroFlat }

// DecimalFormat is how a DECIMAL value is written.
type DecimalFormat int

const (
	// DecimalPrecise is decimal.handling.mode=precise with the JsonConverter's
	// default decimal.format=BASE64: base64 of the big-endian two's
	// complement unscaled value, minimal length.
	DecimalPrecise DecimalFormat = iota
	// DecimalNumeric is precise with decimal.format=NUMERIC: a JSON number
	// with the column's scale (24.90), same schema.
	DecimalNumeric
)

// RenderOptions chooses the record shape.
type RenderOptions struct {
	Format  Format
	Decimal DecimalFormat
	// FlatLSN and FlatSequence add source.lsn and source.sequence to the
	// flattened records' add.fields (__source_lsn, __source_sequence).
	FlatLSN, FlatSequence bool
	// ToastFromBefore fills an unchanged TOAST value of an update's after
	// image from its before image, as Debezium does when the old row is
	// there (REPLICA IDENTITY FULL, DBZ-1368). By default it is the
	// placeholder, as with REPLICA IDENTITY DEFAULT.
	ToastFromBefore bool
	// Register registers an Avro schema under a subject and returns its id,
	// as a Schema Registry does (the Avro formats only).
	Register func(subject, schema string) (int32, error)
}

// Record is one Kafka record of a CDC topic; Value nil is a tombstone.
type Record struct {
	Topic      string
	Key, Value []byte
	Change     *Change // nil for a tombstone
}

// Render writes the capture's changes, in commit order (the snapshot
// first), as the connector's records: one per change, a tombstone after
// each delete. The Avro formats are RenderAvro's.
func Render(c *Capture, opts RenderOptions) []Record {
	if opts.Format.avro() {
		panic("pgshop: Render of an Avro format: use RenderAvro")
	}
	return render(c, func(ch *Change, snapshot string) (key, value []byte) {
		return renderKey(ch.Table, ch.ID, opts.Format.schema()), renderValue(ch, snapshot, opts)
	})
}

func render(c *Capture, encode func(ch *Change, snapshot string) (key, value []byte)) []Record {
	changes := c.Changes()
	out := make([]Record, 0, len(changes)+len(changes)/10)
	lastSnap := -1
	if c.Snapshot != nil {
		lastSnap = len(c.Snapshot.Changes) - 1
	}
	for i, ch := range changes {
		snapshot := "false"
		if ch.Tx.Snapshot {
			snapshot = "true"
			if i == lastSnap {
				snapshot = "last"
			}
		}
		key, value := encode(ch, snapshot)
		out = append(out, Record{Topic: Topic(ch.Table), Key: key, Value: value, Change: ch})
		if ch.Op == OpDelete {
			out = append(out, Record{Topic: Topic(ch.Table), Key: key})
		}
	}
	return out
}

// ---- JSON text ----

func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
			i++
		case c < 0x20:
			switch c {
			case '\n':
				b = append(b, '\\', 'n')
			case '\t':
				b = append(b, '\\', 't')
			case '\r':
				b = append(b, '\\', 'r')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			_, n := utf8.DecodeRuneInString(s[i:])
			b = append(b, s[i:i+n]...)
			i += n
		}
	}
	return append(b, '"')
}

func appendInt(b []byte, n int64) []byte { return strconv.AppendInt(b, n, 10) }

// ---- schemas ----

func columnSchema(c Column) []byte {
	b := []byte(`{"type":`)
	switch c.Kind {
	case KindInt32:
		b = append(b, `"int32"`...)
	case KindText:
		b = append(b, `"string"`...)
	case KindDecimal:
		b = append(b, `"bytes"`...)
	case KindTimestamp:
		b = append(b, `"int64"`...)
	}
	b = append(b, `,"optional":`...)
	b = strconv.AppendBool(b, c.Optional)
	if c.Serial {
		b = append(b, `,"default":0`...)
	}
	switch c.Kind {
	case KindDecimal:
		b = append(b, `,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"`...)
		b = strconv.AppendInt(b, int64(c.Scale), 10)
		b = append(b, `","connect.decimal.precision":"`...)
		b = strconv.AppendInt(b, int64(c.Precision), 10)
		b = append(b, `"}`...)
	case KindTimestamp:
		b = append(b, `,"name":"io.debezium.time.MicroTimestamp","version":1`...)
	}
	b = append(b, `,"field":`...)
	b = appendString(b, c.Name)
	return append(b, '}')
}

func simpleField(typ string, optional bool, name string) string {
	return `{"type":"` + typ + `","optional":` + strconv.FormatBool(optional) + `,"field":"` + name + `"}`
}

// rowSchema is the table's Value struct; field names the struct when it is
// a field of the envelope.
func rowSchema(t *Table, optional bool, field string, extra ...string) []byte {
	b := []byte(`{"type":"struct","fields":[`)
	for i, c := range t.Columns {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, columnSchema(c)...)
	}
	for _, e := range extra {
		b = append(b, ',')
		b = append(b, e...)
	}
	b = append(b, `],"optional":`...)
	b = strconv.AppendBool(b, optional)
	b = append(b, `,"name":"`+Topic(t)+`.Value"`...)
	if field != "" {
		b = append(b, `,"field":"`+field+`"`...)
	}
	return append(b, '}')
}

const sourceSchema = `{"type":"struct","fields":[` +
	`{"type":"string","optional":false,"field":"version"},` +
	`{"type":"string","optional":false,"field":"connector"},` +
	`{"type":"string","optional":false,"field":"name"},` +
	`{"type":"int64","optional":false,"field":"ts_ms"},` +
	`{"type":"string","optional":true,"name":"io.debezium.data.Enum","version":1,"parameters":{"allowed":"true,last,false,incremental"},"default":"false","field":"snapshot"},` +
	`{"type":"string","optional":false,"field":"db"},` +
	`{"type":"string","optional":true,"field":"sequence"},` +
	`{"type":"int64","optional":true,"field":"ts_us"},` +
	`{"type":"int64","optional":true,"field":"ts_ns"},` +
	`{"type":"string","optional":false,"field":"schema"},` +
	`{"type":"string","optional":false,"field":"table"},` +
	`{"type":"int64","optional":true,"field":"txId"},` +
	`{"type":"int64","optional":true,"field":"lsn"},` +
	`{"type":"int64","optional":true,"field":"xmin"}` +
	`],"optional":false,"name":"io.debezium.connector.postgresql.Source","field":"source"}`

const transactionSchema = `{"type":"struct","fields":[` +
	`{"type":"string","optional":false,"field":"id"},` +
	`{"type":"int64","optional":false,"field":"total_order"},` +
	`{"type":"int64","optional":false,"field":"data_collection_order"}` +
	`],"optional":true,"name":"event.block","version":1,"field":"transaction"}`

func envelopeSchema(t *Table) []byte {
	b := []byte(`{"type":"struct","fields":[`)
	b = append(b, rowSchema(t, true, "before")...)
	b = append(b, ',')
	b = append(b, rowSchema(t, true, "after")...)
	b = append(b, ',')
	b = append(b, sourceSchema...)
	b = append(b, ',')
	b = append(b, transactionSchema...)
	b = append(b, ","+simpleField("string", false, "op")+","+simpleField("int64", true, "ts_ms")+","+
		simpleField("int64", true, "ts_us")+","+simpleField("int64", true, "ts_ns")...)
	b = append(b, `],"optional":false,"name":"`+Topic(t)+`.Envelope","version":2}`...)
	return b
}

func flatSchema(t *Table, opts RenderOptions) []byte {
	extra := []string{simpleField("string", true, "__op"), simpleField("int64", true, "__source_ts_ms"),
		simpleField("string", true, "__source_db"), simpleField("string", true, "__source_table")}
	if opts.FlatLSN {
		extra = append(extra, simpleField("int64", true, "__source_lsn"))
	}
	if opts.FlatSequence {
		extra = append(extra, simpleField("string", true, "__source_sequence"))
	}
	extra = append(extra, simpleField("string", true, "__deleted"))
	return rowSchema(t, false, "", extra...)
}

// ---- values ----

func renderKey(t *Table, id int64, schema bool) []byte {
	var b []byte
	if schema {
		b = append(b, `{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"default":0,"field":"id"}],"optional":false,"name":"`+Topic(t)+`.Key"},"payload":`...)
	}
	b = append(b, `{"id":`...)
	b = appendInt(b, id)
	b = append(b, '}')
	if schema {
		b = append(b, '}')
	}
	return b
}

// unscaledBytes is Java's BigInteger.toByteArray of n: big-endian two's
// complement, minimal length.
func unscaledBytes(n int64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, uint64(n))
	i := 0
	for i < 7 && (b[i] == 0x00 && b[i+1]&0x80 == 0 || b[i] == 0xff && b[i+1]&0x80 != 0) {
		i++
	}
	return b[i:]
}

// appendFields writes a row's columns as object members (no braces).
// unchanged columns are written as the placeholder.
func appendFields(b []byte, t *Table, r Row, unchanged []int, opts RenderOptions) []byte {
	for i, c := range t.Columns {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, c.Name)
		b = append(b, ':')
		v := r[i]
		switch {
		case slices.Contains(unchanged, i):
			b = appendString(b, Placeholder)
		case v.Null:
			b = append(b, "null"...)
		case c.Kind == KindText:
			b = appendString(b, v.S)
		case c.Kind == KindDecimal && opts.Decimal == DecimalNumeric:
			b = append(b, FormatDecimal(v.N, c.Scale)...)
		case c.Kind == KindDecimal:
			b = appendString(b, base64.StdEncoding.EncodeToString(unscaledBytes(v.N)))
		default:
			b = appendInt(b, v.N)
		}
	}
	return b
}

func appendRow(b []byte, t *Table, r Row, unchanged []int, opts RenderOptions) []byte {
	if r == nil {
		return append(b, "null"...)
	}
	b = append(b, '{')
	b = appendFields(b, t, r, unchanged, opts)
	return append(b, '}')
}

// sequence is source.sequence: ["<lastCommitLsn>","<lsn>"] as a string.
func sequence(ch *Change) string {
	s := "["
	if ch.Tx.Snapshot || ch.Tx.LastCommitLSN == 0 {
		s += "null"
	} else {
		s += `"` + strconv.FormatUint(ch.Tx.LastCommitLSN, 10) + `"`
	}
	return s + `,"` + strconv.FormatUint(ch.LSN, 10) + `"]`
}

func renderValue(ch *Change, snapshot string, opts RenderOptions) []byte {
	t := ch.Table
	var unchanged []int
	if !opts.ToastFromBefore {
		unchanged = ch.Unchanged
	}
	commit := ch.Tx.CommitTime
	var b []byte
	if opts.Format.schema() {
		b = append(b, `{"schema":`...)
		if opts.Format.flat() {
			b = append(b, flatSchema(t, opts)...)
		} else {
			b = append(b, envelopeSchema(t)...)
		}
		b = append(b, `,"payload":`...)
	}
	if opts.Format.flat() {
		b = append(b, '{')
		if ch.Op == OpDelete {
			b = appendFields(b, t, ch.Before, nil, opts)
		} else {
			b = appendFields(b, t, ch.After, unchanged, opts)
		}
		b = append(b, `,"__op":"`+string(ch.Op)+`","__source_ts_ms":`...)
		b = appendInt(b, commit.UnixMilli())
		b = append(b, `,"__source_db":"`+Database+`","__source_table":"`+t.Name+`"`...)
		if opts.FlatLSN {
			b = append(b, `,"__source_lsn":`...)
			b = strconv.AppendUint(b, ch.LSN, 10)
		}
		if opts.FlatSequence {
			b = append(b, `,"__source_sequence":`...)
			b = appendString(b, sequence(ch))
		}
		if ch.Op == OpDelete {
			b = append(b, `,"__deleted":"true"}`...)
		} else {
			b = append(b, `,"__deleted":"false"}`...)
		}
	} else {
		b = append(b, `{"before":`...)
		b = appendRow(b, t, ch.Before, nil, opts)
		b = append(b, `,"after":`...)
		b = appendRow(b, t, ch.After, unchanged, opts)
		b = append(b, `,"source":{"version":"`+ConnectorVersion+`","connector":"postgresql","name":"`+TopicPrefix+`","ts_ms":`...)
		b = appendInt(b, commit.UnixMilli())
		b = append(b, `,"snapshot":"`+snapshot+`","db":"`+Database+`","sequence":`...)
		b = appendString(b, sequence(ch))
		b = append(b, `,"ts_us":`...)
		b = appendInt(b, commit.UnixMicro())
		b = append(b, `,"ts_ns":`...)
		b = appendInt(b, commit.UnixMicro()*1000)
		b = append(b, `,"schema":"public","table":"`+t.Name+`","txId":`...)
		b = appendInt(b, int64(ch.Tx.Xid))
		b = append(b, `,"lsn":`...)
		b = strconv.AppendUint(b, ch.LSN, 10)
		b = append(b, `,"xmin":null},"transaction":null,"op":"`+string(ch.Op)+`","ts_ms":`...)
		b = appendInt(b, ch.ReceivedAt.UnixMilli())
		b = append(b, `,"ts_us":`...)
		b = appendInt(b, ch.ReceivedAt.UnixMicro())
		b = append(b, `,"ts_ns":`...)
		b = appendInt(b, ch.ReceivedAt.UnixNano())
		b = append(b, '}')
	}
	if opts.Format.schema() {
		b = append(b, '}')
	}
	return b
}

// ---- delivery ----

// ByTopic splits records by topic, keeping their order within each.
func ByTopic(recs []Record) map[string][]Record {
	out := map[string][]Record{}
	for _, r := range recs {
		out[r.Topic] = append(out[r.Topic], r)
	}
	return out
}

// WithReplays returns recs with the re-sends of connector restarts: about
// every `every` records of a topic (uniformly every/2..3·every/2), the
// last 1..2·back records of that topic are sent again, identical (same
// key, value and positions). The topics are then interleaved in a seeded
// random order that keeps each topic's own order, so one topic may run
// well ahead of another. recs is not modified.
func WithReplays(recs []Record, seed uint64, every, back int) []Record {
	rng := rand.New(rand.NewPCG(seed, seed^0x5bd1e995))
	byTopic := ByTopic(recs)
	topics := make([]string, 0, len(byTopic))
	for t := range byTopic {
		topics = append(topics, t)
	}
	slices.Sort(topics)
	streams := make([][]Record, len(topics))
	for ti, t := range topics {
		orig := byTopic[t]
		if every <= 0 || back <= 0 {
			streams[ti] = orig
			continue
		}
		out := make([]Record, 0, len(orig)+len(orig)*back/every+1)
		next := every/2 + rng.IntN(every+1)
		for i, r := range orig {
			out = append(out, r)
			if next--; next > 0 {
				continue
			}
			k := min(1+rng.IntN(2*back), i+1)
			out = append(out, orig[i+1-k:i+1]...)
			next = max(1, every/2+rng.IntN(every+1))
		}
		streams[ti] = out
	}
	total := 0
	for _, s := range streams {
		total += len(s)
	}
	out := make([]Record, 0, total)
	pos := make([]int, len(streams))
	for len(out) < total {
		n := rng.IntN(total - len(out))
		for i, s := range streams {
			if rest := len(s) - pos[i]; n < rest {
				out = append(out, s[pos[i]])
				pos[i]++
				break
			} else {
				n -= rest
			}
		}
	}
	return out
}

// Replayed counts the records of recs that repeat an earlier one's change.
func Replayed(recs []Record) int {
	seen := map[*Change]bool{}
	n := 0
	for _, r := range recs {
		if r.Change == nil {
			continue
		}
		if seen[r.Change] {
			n++
		}
		seen[r.Change] = true
	}
	return n
}
