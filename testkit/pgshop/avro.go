package pgshop

// The AvroConverter's rendering (io.confluent.connect.avro.AvroConverter
// for keys and values): the same Connect schemas and values as the JSON
// rendering, translated by the rules of Confluent's
// AvroData.fromConnectSchema and written as Avro binary in the Confluent
// wire format. It is written here from the captured rows, apart from both
// the services' decoder (codecs/debezium) and the simulator's encoder
// (tools/dbzenc), so that a mistake in either cannot hide in a shared
// table: a struct a.b.C is record C in namespace a.b with "connect.name";
// an optional field is ["null", T] with "default":null (source.snapshot,
// whose Connect default is "false", is [T, "null"] with that default);
// DECIMAL(p,s) is bytes with logicalType decimal, precision and scale;
// MicroTimestamp is a long with its connect.name. decimal.format is a
// JsonConverter setting: under Avro the decimal is always the unscaled
// big-endian two's complement bytes.

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
)

// avroRecordHead splits a Connect struct name into the Avro record name
// and namespace, as fromConnectSchema does.
func avroRecordHead(connectName string) (name, namespace string) {
	for i := len(connectName) - 1; i >= 0; i-- {
		if connectName[i] == '.' {
			return connectName[i+1:], connectName[:i]
		}
	}
	return connectName, ""
}

func avroRecord(connectName, version string, fields []string) string {
	name, ns := avroRecordHead(connectName)
	s := `{"type":"record","name":` + strconv.Quote(name) + `,"namespace":` + strconv.Quote(ns) + `,"fields":[`
	for i, f := range fields {
		if i > 0 {
			s += ","
		}
		s += f
	}
	s += `]`
	if version != "" {
		s += `,"connect.version":` + version
	}
	return s + `,"connect.name":` + strconv.Quote(connectName) + `}`
}

// avroField is a field; optional fields are ["null", typ] defaulting to null.
func avroField(name, typ string, optional bool) string {
	if optional {
		return `{"name":` + strconv.Quote(name) + `,"type":["null",` + typ + `],"default":null}`
	}
	return `{"name":` + strconv.Quote(name) + `,"type":` + typ + `}`
}

func avroColumnType(c Column) string {
	switch c.Kind {
	case KindInt32:
		if c.Serial {
			return `{"type":"int","connect.default":0}`
		}
		return `"int"`
	case KindText:
		return `"string"`
	case KindDecimal:
		p, s := strconv.Itoa(c.Precision), strconv.Itoa(c.Scale)
		return `{"type":"bytes","scale":` + s + `,"precision":` + p + `,"connect.version":1,"connect.parameters":{"scale":"` + s +
			`","connect.decimal.precision":"` + p + `"},"connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}`
	default: // KindTimestamp
		return `{"type":"long","connect.version":1,"connect.name":"io.debezium.time.MicroTimestamp"}`
	}
}

func avroColumnFields(t *Table) []string {
	var fs []string
	for _, c := range t.Columns {
		f := avroField(c.Name, avroColumnType(c), c.Optional)
		if c.Serial {
			f = f[:len(f)-1] + `,"default":0}`
		}
		fs = append(fs, f)
	}
	return fs
}

// AvroKeySchema is the key schema of a table's topic.
func AvroKeySchema(t *Table) string {
	return avroRecord(Topic(t)+".Key", "", []string{`{"name":"id","type":{"type":"int","connect.default":0},"default":0}`})
}

const avroSourceSchema = `{"type":"record","name":"Source","namespace":"io.debezium.connector.postgresql","fields":[` +
	`{"name":"version","type":"string"},{"name":"connector","type":"string"},{"name":"name","type":"string"},` +
	`{"name":"ts_ms","type":"long"},` +
	`{"name":"snapshot","type":[{"type":"string","connect.version":1,"connect.parameters":{"allowed":"true,last,false,incremental"},` +
	`"connect.default":"false","connect.name":"io.debezium.data.Enum"},"null"],"default":"false"},` +
	`{"name":"db","type":"string"},{"name":"sequence","type":["null","string"],"default":null},` +
	`{"name":"ts_us","type":["null","long"],"default":null},{"name":"ts_ns","type":["null","long"],"default":null},` +
	`{"name":"schema","type":"string"},{"name":"table","type":"string"},` +
	`{"name":"txId","type":["null","long"],"default":null},{"name":"lsn","type":["null","long"],"default":null},` +
	`{"name":"xmin","type":["null","long"],"default":null}` +
	`],"connect.name":"io.debezium.connector.postgresql.Source"}`

const avroTransactionSchema = `{"type":"record","name":"block","namespace":"event","fields":[` +
	`{"name":"id","type":"string"},{"name":"total_order","type":"long"},{"name":"data_collection_order","type":"long"}` +
	`],"connect.version":1,"connect.name":"event.block"}`

// AvroValueSchema is the value schema of a table's topic in an Avro format.
func AvroValueSchema(t *Table, opts RenderOptions) string {
	if opts.Format == FormatAvroFlat {
		fs := avroColumnFields(t)
		fs = append(fs, avroField("__op", `"string"`, true), avroField("__source_ts_ms", `"long"`, true),
			avroField("__source_db", `"string"`, true), avroField("__source_table", `"string"`, true))
		if opts.FlatLSN {
			fs = append(fs, avroField("__source_lsn", `"long"`, true))
		}
		if opts.FlatSequence {
			fs = append(fs, avroField("__source_sequence", `"string"`, true))
		}
		fs = append(fs, avroField("__deleted", `"string"`, true))
		return avroRecord(Topic(t)+".Value", "", fs)
	}
	row := avroRecord(Topic(t)+".Value", "", avroColumnFields(t))
	return avroRecord(Topic(t)+".Envelope", "2", []string{
		avroField("before", row, true),
		avroField("after", strconv.Quote(Topic(t)+".Value"), true),
		avroField("source", avroSourceSchema, false),
		avroField("transaction", avroTransactionSchema, true),
		avroField("op", `"string"`, false),
		avroField("ts_ms", `"long"`, true), avroField("ts_us", `"long"`, true), avroField("ts_ns", `"long"`, true),
	})
}

// ---- Avro binary ----

func avroLong(b []byte, n int64) []byte { return binary.AppendUvarint(b, uint64(n<<1)^uint64(n>>63)) }
func avroBytes(b, v []byte) []byte      { return append(avroLong(b, int64(len(v))), v...) }
func avroString(b []byte, s string) []byte {
	return append(avroLong(b, int64(len(s))), s...)
}

// avroOpt writes a present value of an optional ["null", T] field: branch 1.
func avroOpt(b []byte) []byte { return avroLong(b, 1) }

// avroNull writes null in an optional ["null", T] field: branch 0.
func avroNull(b []byte) []byte { return avroLong(b, 0) }

func avroFrame(id int32, datum []byte) []byte {
	out := make([]byte, 5, 5+len(datum))
	binary.BigEndian.PutUint32(out[1:], uint32(id))
	return append(out, datum...)
}

func avroFields(b []byte, t *Table, r Row, unchanged []int) []byte {
	for i, c := range t.Columns {
		v := r[i]
		if slices.Contains(unchanged, i) {
			v = Value{S: Placeholder}
		}
		if c.Optional {
			if v.Null {
				b = avroNull(b)
				continue
			}
			b = avroOpt(b)
		}
		switch c.Kind {
		case KindText:
			b = avroString(b, v.S)
		case KindDecimal:
			b = avroBytes(b, unscaledBytes(v.N))
		default: // int and long are both zigzag varints
			b = avroLong(b, v.N)
		}
	}
	return b
}

func avroValue(ch *Change, snapshot string, opts RenderOptions) []byte {
	t := ch.Table
	var unchanged []int
	if !opts.ToastFromBefore {
		unchanged = ch.Unchanged
	}
	commit := ch.Tx.CommitTime
	var b []byte
	if opts.Format == FormatAvroFlat {
		row, deleted := ch.After, "false"
		if ch.Op == OpDelete {
			row, deleted, unchanged = ch.Before, "true", nil
		}
		b = avroFields(b, t, row, unchanged)
		b = avroString(avroOpt(b), string(ch.Op))
		b = avroLong(avroOpt(b), commit.UnixMilli())
		b = avroString(avroOpt(b), Database)
		b = avroString(avroOpt(b), t.Name)
		if opts.FlatLSN {
			b = avroLong(avroOpt(b), int64(ch.LSN))
		}
		if opts.FlatSequence {
			b = avroString(avroOpt(b), sequence(ch))
		}
		return avroString(avroOpt(b), deleted)
	}
	for _, r := range []struct {
		row       Row
		unchanged []int
	}{{ch.Before, nil}, {ch.After, unchanged}} {
		if r.row == nil {
			b = avroNull(b)
		} else {
			b = avroFields(avroOpt(b), t, r.row, r.unchanged)
		}
	}
	b = avroString(b, ConnectorVersion)
	b = avroString(b, "postgresql")
	b = avroString(b, TopicPrefix)
	b = avroLong(b, commit.UnixMilli())
	b = avroString(avroLong(b, 0), snapshot) // [Enum, "null"]: branch 0 is the string
	b = avroString(b, Database)
	b = avroString(avroOpt(b), sequence(ch))
	b = avroLong(avroOpt(b), commit.UnixMicro())
	b = avroLong(avroOpt(b), commit.UnixMicro()*1000)
	b = avroString(b, "public")
	b = avroString(b, t.Name)
	b = avroLong(avroOpt(b), int64(ch.Tx.Xid))
	b = avroLong(avroOpt(b), int64(ch.LSN))
	b = avroNull(b)                                     // xmin
	b = avroNull(b)                                     // transaction
	b = avroString(b, string(ch.Op))                    // op
	b = avroLong(avroOpt(b), ch.ReceivedAt.UnixMilli()) // ts_ms
	b = avroLong(avroOpt(b), ch.ReceivedAt.UnixMicro())
	return avroLong(avroOpt(b), ch.ReceivedAt.UnixNano())
}

// RenderAvro is Render for the Avro formats (FormatAvro, FormatAvroFlat):
// each topic's key and value schemas are registered through
// opts.Register under <topic>-key and <topic>-value (TopicNameStrategy),
// and every key and value is framed with the id it returned.
// opts.Decimal does not apply (decimals are always precise bytes).
func RenderAvro(c *Capture, opts RenderOptions) ([]Record, error) {
	if !opts.Format.avro() || opts.Register == nil {
		return nil, fmt.Errorf("pgshop: RenderAvro needs an Avro format and RenderOptions.Register")
	}
	type ids struct{ key, value int32 }
	schemas := map[*Table]ids{}
	for _, t := range Tables {
		k, err := opts.Register(Topic(t)+"-key", AvroKeySchema(t))
		if err != nil {
			return nil, fmt.Errorf("pgshop: register %s-key: %w", Topic(t), err)
		}
		v, err := opts.Register(Topic(t)+"-value", AvroValueSchema(t, opts))
		if err != nil {
			return nil, fmt.Errorf("pgshop: register %s-value: %w", Topic(t), err)
		}
		schemas[t] = ids{k, v}
	}
	return render(c, func(ch *Change, snapshot string) (key, value []byte) {
		id := schemas[ch.Table]
		return avroFrame(id.key, avroLong(nil, ch.ID)), avroFrame(id.value, avroValue(ch, snapshot, opts))
	}), nil
}
