package debezium

import (
	"bytes"
	"encoding/json"
	"hash/maphash"
	"strconv"
	"sync"
	"sync/atomic"
)

// decKind is the representation of a DECIMAL column announced by the
// Connect schema.
type decKind uint8

const (
	decUnknown  decKind = iota // no schema: decide by the JSON value
	decBytes                   // org.apache.kafka.connect.data.Decimal (precise)
	decVariable                // io.debezium.data.VariableScaleDecimal struct
	decString                  // decimal.handling.mode=string
	decDouble                  // decimal.handling.mode=double
)

// colSchema is what the decoder needs to know about one column's schema.
type colSchema struct {
	dec      decKind
	hasScale bool
	scale    int32
	time     timeUnit
}

// Row images of a schema.
const (
	imgFlat   = 0 // the top-level fields (ExtractNewRecordState output)
	imgBefore = 1
	imgAfter  = 2
)

// schemaInfo is the analysis of one Connect value schema: per row image,
// table and column, the decimal and timestamp representation.
type schemaInfo struct {
	raw  []byte // the schema's JSON bytes (owned copy)
	hash uint64
	err  *DecodeError // set when the schema is unusable
	cols [3][numTables][maxCols]colSchema
}

// schemaNode mirrors the parts of a Kafka Connect JSON schema the decoder
// reads.
type schemaNode struct {
	Type       string                     `json:"type"`
	Name       string                     `json:"name"`
	Field      string                     `json:"field"`
	Fields     []schemaNode               `json:"fields"`
	Parameters map[string]json.RawMessage `json:"parameters"`
}

// analyzeSchema extracts the per-column representations from a schema. It
// runs once per distinct schema, so it favours simplicity over speed.
func analyzeSchema(raw []byte) *schemaInfo {
	info := &schemaInfo{raw: raw}
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return info
	}
	var root schemaNode
	if err := json.Unmarshal(raw, &root); err != nil {
		info.err = &DecodeError{Field: "schema", Reason: "unusable Connect schema: " + err.Error()}
		return info
	}
	envelope := false
	for i := range root.Fields {
		f := &root.Fields[i]
		switch f.Field {
		case "before", "after":
			if f.Type == "struct" || len(f.Fields) > 0 {
				envelope = true
				img := imgBefore
				if f.Field == "after" {
					img = imgAfter
				}
				if err := info.fillImage(img, f.Fields); err != nil {
					info.err = err
					return info
				}
			}
		}
	}
	if !envelope {
		if err := info.fillImage(imgFlat, root.Fields); err != nil {
			info.err = err
		}
	}
	return info
}

func (info *schemaInfo) fillImage(img int, fields []schemaNode) *DecodeError {
	for i := range fields {
		f := &fields[i]
		cs, err := describeColumn(f)
		if err != nil {
			return err
		}
		for ti := 0; ti < numTables; ti++ {
			if ci := columnIndex(ti, []byte(f.Field)); ci >= 0 {
				info.cols[img][ti][ci] = cs
			}
		}
	}
	return nil
}

func describeColumn(f *schemaNode) (colSchema, *DecodeError) {
	cs := connectColumn(f.Name)
	switch f.Name {
	case "org.apache.kafka.connect.data.Decimal":
		if p, ok := f.Parameters["scale"]; ok {
			sc, err := parseScaleParam(p)
			if err != nil {
				return cs, &DecodeError{Field: "schema", Reason: "column " + strconv.Quote(f.Field) + ": invalid decimal scale " + excerpt(p)}
			}
			cs.hasScale, cs.scale = true, sc
		}
	case "":
		switch f.Type {
		case "bytes":
			cs.dec = decBytes
		case "string":
			cs.dec = decString
		case "double", "float", "float64", "float32":
			cs.dec = decDouble
		}
	}
	return cs, nil
}

// connectColumn describes a column by the name of its Connect schema (a
// logical type), whatever the converter: the JsonConverter's "name", the
// AvroConverter's "connect.name".
func connectColumn(name string) colSchema {
	var cs colSchema
	switch name {
	case "org.apache.kafka.connect.data.Decimal":
		cs.dec = decBytes
	case "io.debezium.data.VariableScaleDecimal":
		cs.dec = decVariable
	case "io.debezium.time.MicroTimestamp":
		cs.time = tuMicro
	case "io.debezium.time.Timestamp", "org.apache.kafka.connect.data.Timestamp":
		cs.time = tuMilli
	case "io.debezium.time.NanoTimestamp":
		cs.time = tuNano
	case "io.debezium.time.ZonedTimestamp":
		cs.time = tuZoned
	}
	return cs
}

// parseScaleParam reads a "scale" schema parameter: a string ("2") or,
// leniently, a number.
func parseScaleParam(p json.RawMessage) (int32, error) {
	var s string
	if err := json.Unmarshal(p, &s); err != nil {
		s = string(bytes.TrimSpace(p))
	}
	v, err := strconv.ParseInt(s, 10, 32)
	return int32(v), err
}

// schemaCacheLimit bounds the number of cached schema analyses. A
// deployment has a handful of schemas per topic; the bound only matters for
// hostile input.
const schemaCacheLimit = 512

// maxCachedSchemaBytes bounds the size of a cached schema (the reference
// schemas are ~2 KB), so that the cache holds at most
// schemaCacheLimit*maxCachedSchemaBytes bytes. Larger schemas are analysed
// every time.
const maxCachedSchemaBytes = 64 << 10

// topicHints bounds the schemas remembered per topic for the fast
// prefix check.
const topicHints = 4

// schemaCache maps schema bytes to their analysis. Reads are lock-free (an
// atomically published immutable snapshot); writers copy the snapshot under
// a mutex. Schemas are identified by hash and length and verified byte for
// byte, and also remembered per topic so that the common case (the same
// schema as before on this topic) is recognised with one memory comparison
// instead of scanning the schema.
type schemaCache struct {
	seed maphash.Seed
	mu   sync.Mutex
	snap atomic.Pointer[cacheSnapshot]
}

type cacheSnapshot struct {
	byHash  map[uint64][]*schemaInfo
	byTopic map[string][]*schemaInfo
	n       int
}

func newSchemaCache() *schemaCache {
	c := &schemaCache{seed: maphash.MakeSeed()}
	c.snap.Store(&cacheSnapshot{byHash: map[uint64][]*schemaInfo{}, byTopic: map[string][]*schemaInfo{}})
	return c
}

// matchTopic returns a cached schema of this topic whose bytes are a prefix
// of rest. A cached schema is a complete, validated JSON value, and a JSON
// value determines its own end, so a prefix match means the value at rest
// is exactly that schema.
func (c *schemaCache) matchTopic(topic string, rest []byte) *schemaInfo {
	for _, e := range c.snap.Load().byTopic[topic] {
		if bytes.HasPrefix(rest, e.raw) {
			return e
		}
	}
	return nil
}

// get returns the analysis of raw (a validated JSON value), analysing and
// caching it when new, and remembers it for topic.
func (c *schemaCache) get(topic string, raw []byte) *schemaInfo {
	h := maphash.Bytes(c.seed, raw)
	snap := c.snap.Load()
	for _, e := range snap.byHash[h] {
		if bytes.Equal(e.raw, raw) {
			c.remember(topic, e)
			return e
		}
	}
	info := analyzeSchema(bytes.Clone(raw))
	info.hash = h
	if len(raw) > maxCachedSchemaBytes {
		return info
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.snap.Load()
	for _, e := range old.byHash[h] { // another goroutine may have won
		if bytes.Equal(e.raw, raw) {
			info = e
			break
		}
	}
	next := &cacheSnapshot{byHash: make(map[uint64][]*schemaInfo, len(old.byHash)+1), byTopic: make(map[string][]*schemaInfo, len(old.byTopic)+1)}
	if old.n < schemaCacheLimit && len(old.byTopic) < schemaCacheLimit {
		for k, v := range old.byHash {
			next.byHash[k] = v
		}
		for k, v := range old.byTopic {
			next.byTopic[k] = v
		}
		next.n = old.n
	} // else: start afresh, dropping every entry
	if !containsInfo(next.byHash[h], info) {
		next.byHash[h] = append(append([]*schemaInfo(nil), next.byHash[h]...), info)
		next.n++
	}
	next.byTopic[topic] = withHint(next.byTopic[topic], info)
	c.snap.Store(next)
	return info
}

// remember adds a known schema to the topic's hints when missing.
func (c *schemaCache) remember(topic string, info *schemaInfo) {
	if containsInfo(c.snap.Load().byTopic[topic], info) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.snap.Load()
	if containsInfo(old.byTopic[topic], info) {
		return
	}
	next := &cacheSnapshot{byHash: old.byHash, byTopic: make(map[string][]*schemaInfo, len(old.byTopic)+1), n: old.n}
	if len(old.byTopic) < schemaCacheLimit { // else forget every topic's hints
		for k, v := range old.byTopic {
			next.byTopic[k] = v
		}
	}
	next.byTopic[topic] = withHint(next.byTopic[topic], info)
	c.snap.Store(next)
}

func containsInfo(list []*schemaInfo, info *schemaInfo) bool {
	for _, e := range list {
		if e == info {
			return true
		}
	}
	return false
}

// withHint returns a new list with info first, keeping at most topicHints.
func withHint(list []*schemaInfo, info *schemaInfo) []*schemaInfo {
	out := make([]*schemaInfo, 0, topicHints)
	out = append(out, info)
	for _, e := range list {
		if len(out) == topicHints {
			break
		}
		if e != info {
			out = append(out, e)
		}
	}
	return out
}
