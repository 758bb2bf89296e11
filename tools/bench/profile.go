package bench

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// Profile summaries: where a service's CPU (or allocation) goes, grouped
// into a few buckets by function and package name, so that profiles of
// the service and the skeleton can be compared at a glance.
//
// The profiles are read here, from the pprof protobuf format (gzipped
// profile.proto), with protowire: github.com/google/pprof/profile is not
// in the module graph, and the bench may not change go.mod.

// Buckets, in the order they are reported.
const (
	BucketDecode    = "JSON decode (codecs/debezium)"
	BucketState     = "state codecs (codecs/state)"
	BucketCallbacks = "callbacks (processors/...)"
	BucketTable     = "table writes (Goka storage, LevelDB)"
	BucketProduce   = "Sarama produce / loopback"
	BucketConsume   = "Sarama consume"
	BucketSarama    = "Sarama, other (network, metadata)"
	BucketGoka      = "Goka machinery (dispatch, commits)"
	BucketViews     = "views (Goka views, queries)"
	BucketSinks     = "sinks (mirror, S3)"
	BucketGC        = "GC and allocation"
	BucketSched     = "Go scheduler, idle"
	BucketOther     = "other"
)

// Buckets lists every bucket in report order.
var Buckets = []string{BucketDecode, BucketState, BucketCallbacks, BucketTable, BucketProduce, BucketConsume,
	BucketSarama, BucketGoka, BucketViews, BucketSinks, BucketGC, BucketSched, BucketOther}

// gcFrames are runtime functions whose presence anywhere on a stack makes
// the sample garbage collection or allocation: the background mark workers
// and sweepers, assists, write barriers, and mallocgc with what it calls.
var gcFrames = []string{
	"runtime.gcBgMarkWorker", "runtime.gcDrain", "runtime.scanobject", "runtime.scanblock", "runtime.greyobject",
	"runtime.markroot", "runtime.gcAssistAlloc", "runtime.gcMarkDone", "runtime.gcMarkTermination", "runtime.gcStart",
	"runtime.bgsweep", "runtime.sweepone", "runtime.bgscavenge", "runtime.mallocgc", "runtime.newobject",
	"runtime.makeslice", "runtime.growslice", "runtime.newarray", "runtime.rawstring", "runtime.rawbyteslice",
	"runtime.wbBufFlush", "runtime.gcWriteBarrier", "runtime.bulkBarrierPreWrite", "runtime.(*mheap)", "runtime.(*mcache)",
	"runtime.(*mcentral)", "runtime.(*gcWork)", "runtime.(*gcControllerState)", "runtime.(*sweepLocked)",
}

// Bucket returns the bucket of one sample's stack, given leaf first (the
// function that was running, then its callers).
//
// Garbage collection and allocation win wherever they appear on the stack
// (mallocgc sits between the code that allocates and the collector's work),
// and so does a Goka view (it consumes and stores like a processor, but is
// the query side). Otherwise the first frame from the leaf that belongs to
// a bucket decides: library helpers (strconv, bytes, encoding/binary,
// syscalls) count for the code that called them. A Sarama frame counts as
// produce or consume by the Sarama frames around it (the producer's and the
// consumer's goroutines share the broker connection code).
func Bucket(stack []string) string { return bucket(stack, true) }

// bucket is Bucket; gc false leaves out the rule for garbage collection
// and allocation, for allocation profiles (every sample allocates: it
// counts for the code that allocated).
func bucket(stack []string, gc bool) string {
	for _, f := range stack {
		for _, g := range gcFrames {
			if gc && strings.HasPrefix(f, g) {
				return BucketGC
			}
		}
	}
	for _, f := range stack {
		if strings.Contains(f, "lovoo/goka.(*View)") || strings.Contains(f, "cdcflow/views/") {
			return BucketViews
		}
	}
	for i, f := range stack {
		switch {
		case strings.Contains(f, "cdcflow/codecs/state."), strings.Contains(f, "MarshalState"),
			strings.Contains(f, "TableCodec)."), strings.Contains(f, "DocCodec)."):
			return BucketState
		case strings.Contains(f, "cdcflow/codecs/debezium."), strings.Contains(f, "cdcflow/codecs/confluent."),
			strings.Contains(f, "valyala/fastjson"), strings.Contains(f, "hamba/avro"):
			return BucketDecode
		case strings.Contains(f, "syndtr/goleveldb"), strings.Contains(f, "lovoo/goka/storage."),
			strings.Contains(f, "cdcflow/internal/kafka.(*buffered)"):
			return BucketTable
		case strings.Contains(f, "cdcflow/processors/"), strings.Contains(f, "cdcflow/tools/bench."):
			return BucketCallbacks
		case strings.Contains(f, "cdcflow/sinks/"):
			return BucketSinks
		case strings.Contains(f, "IBM/sarama."):
			return saramaBucket(stack[i:])
		case strings.Contains(f, "lovoo/goka."):
			if strings.Contains(strings.ToLower(f), "produc") || strings.Contains(f, "Emitter") {
				return BucketProduce
			}
			return BucketGoka
		case strings.Contains(f, "cdcflow/internal/kafka."): // the ordered commits around Goka's consumer-group handler
			return BucketGoka
		}
	}
	for _, f := range stack {
		if strings.HasPrefix(f, "runtime.schedule") || strings.HasPrefix(f, "runtime.findRunnable") ||
			strings.HasPrefix(f, "runtime.mstart") || strings.HasPrefix(f, "runtime.mcall") || strings.HasPrefix(f, "runtime.sysmon") {
			return BucketSched
		}
	}
	return BucketOther
}

// saramaBucket classifies a stack that is in Sarama from its first Sarama
// frame on: producer code (the async producer, produce sets and requests,
// the idempotent producer's transaction manager), consumer code (partition
// and broker consumers, fetches, the consumer group, offset managers), or
// the shared rest (broker connections, metadata).
func saramaBucket(stack []string) string {
	consume := false
	for _, f := range stack {
		if !strings.Contains(f, "IBM/sarama.") {
			continue
		}
		l := strings.ToLower(f)
		if strings.Contains(l, "produc") || strings.Contains(l, "transactionmanager") {
			return BucketProduce
		}
		if strings.Contains(l, "consum") || strings.Contains(l, "fetch") || strings.Contains(l, "offsetmanager") {
			consume = true
		}
	}
	if consume {
		return BucketConsume
	}
	return BucketSarama
}

// Profile is what a summary needs of a pprof profile: its sample types
// ("cpu/nanoseconds", "alloc_space/bytes", ...) and every sample's stack
// (function names, leaf first, inlined calls expanded) with its values.
type Profile struct {
	SampleTypes []string
	Samples     []Sample
}

// Sample is one stack and its values, one per sample type.
type Sample struct {
	Stack  []string
	Values []int64
}

// ReadProfile reads a pprof profile file (gzipped or not).
func ReadProfile(path string) (*Profile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p, err := ParseProfile(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// ParseProfile decodes profile.proto (gzipped or not): the sample types,
// samples, locations, functions and the string table; everything else is
// skipped.
func ParseProfile(b []byte) (*Profile, error) {
	if len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("profile: %w", err)
		}
		if b, err = io.ReadAll(zr); err != nil {
			return nil, fmt.Errorf("profile: %w", err)
		}
	}
	type valueType struct{ typ, unit int64 }
	type rawSample struct {
		locs   []uint64
		values []int64
	}
	var (
		types     []valueType
		samples   []rawSample
		locations = map[uint64][]uint64{} // location id → function ids, innermost first
		functions = map[uint64]int64{}    // function id → name (string index)
		strs      []string
	)
	err := fields(b, func(num protowire.Number, typ protowire.Type, v uint64, msg []byte) error {
		switch num {
		case 1: // sample_type
			var vt valueType
			err := fields(msg, func(n protowire.Number, _ protowire.Type, v uint64, _ []byte) error {
				switch n {
				case 1:
					vt.typ = int64(v)
				case 2:
					vt.unit = int64(v)
				}
				return nil
			})
			types = append(types, vt)
			return err
		case 2: // sample
			var s rawSample
			err := fields(msg, func(n protowire.Number, t protowire.Type, v uint64, m []byte) error {
				switch n {
				case 1:
					return packed(t, v, m, func(x uint64) { s.locs = append(s.locs, x) })
				case 2:
					return packed(t, v, m, func(x uint64) { s.values = append(s.values, int64(x)) })
				}
				return nil
			})
			samples = append(samples, s)
			return err
		case 4: // location
			var id uint64
			var funcs []uint64
			err := fields(msg, func(n protowire.Number, _ protowire.Type, v uint64, m []byte) error {
				switch n {
				case 1:
					id = v
				case 4: // line
					return fields(m, func(n protowire.Number, _ protowire.Type, v uint64, _ []byte) error {
						if n == 1 {
							funcs = append(funcs, v)
						}
						return nil
					})
				}
				return nil
			})
			locations[id] = funcs
			return err
		case 5: // function
			var id uint64
			var name int64
			err := fields(msg, func(n protowire.Number, _ protowire.Type, v uint64, _ []byte) error {
				switch n {
				case 1:
					id = v
				case 2:
					name = int64(v)
				}
				return nil
			})
			functions[id] = name
			return err
		case 6: // string_table
			if typ != protowire.BytesType {
				return errors.New("string_table is not bytes")
			}
			strs = append(strs, string(msg))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	str := func(i int64) string {
		if i < 0 || int(i) >= len(strs) {
			return ""
		}
		return strs[i]
	}
	p := &Profile{}
	for _, t := range types {
		p.SampleTypes = append(p.SampleTypes, str(t.typ)+"/"+str(t.unit))
	}
	for _, s := range samples {
		var stack []string
		for _, l := range s.locs {
			for _, f := range locations[l] {
				stack = append(stack, str(functions[f]))
			}
		}
		p.Samples = append(p.Samples, Sample{Stack: stack, Values: s.values})
	}
	return p, nil
}

// fields calls f with each field of the protobuf message b: its number,
// wire type, and its value (varints and fixed ints in v, bytes in msg).
func fields(b []byte, f func(num protowire.Number, typ protowire.Type, v uint64, msg []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var v uint64
		var msg []byte
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.Fixed64Type:
			v, n = protowire.ConsumeFixed64(b)
		case protowire.Fixed32Type:
			var x uint32
			x, n = protowire.ConsumeFixed32(b)
			v = uint64(x)
		case protowire.BytesType:
			msg, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if err := f(num, typ, v, msg); err != nil {
			return err
		}
	}
	return nil
}

// packed reads a repeated varint field, packed (bytes) or not.
func packed(typ protowire.Type, v uint64, msg []byte, add func(uint64)) error {
	if typ != protowire.BytesType {
		add(v)
		return nil
	}
	for len(msg) > 0 {
		x, n := protowire.ConsumeVarint(msg)
		if n < 0 {
			return protowire.ParseError(n)
		}
		add(x)
		msg = msg[n:]
	}
	return nil
}

// ValueIndex is the sample type a summary reports: CPU time of a CPU
// profile, allocated bytes of a heap profile, else the last type.
func (p *Profile) ValueIndex() int {
	for _, want := range []string{"cpu/nanoseconds", "alloc_space/bytes"} {
		for i, t := range p.SampleTypes {
			if t == want {
				return i
			}
		}
	}
	return len(p.SampleTypes) - 1
}

// Shares adds the samples' values (of sample type index) up per bucket and
// returns each bucket's share of the total (0..1) and the total. Samples of
// a profile of allocations (a sample type other than CPU time) count for
// the code that allocated, never for GC and allocation.
func (p *Profile) Shares(index int) (map[string]float64, int64) {
	sums := map[string]int64{}
	var total int64
	cpu := index >= 0 && index < len(p.SampleTypes) && strings.HasPrefix(p.SampleTypes[index], "cpu/")
	for _, s := range p.Samples {
		if index < 0 || index >= len(s.Values) {
			continue
		}
		sums[bucket(s.Stack, cpu)] += s.Values[index]
		total += s.Values[index]
	}
	shares := map[string]float64{}
	if total == 0 {
		return shares, 0
	}
	for b, v := range sums {
		shares[b] = float64(v) / float64(total)
	}
	return shares, total
}

// ProfileSummary writes a Markdown table of each profile's share per
// bucket, one column per profile (named by file name), and a last row
// with each profile's total (CPU seconds, or MiB allocated).
func ProfileSummary(w io.Writer, paths []string) error {
	type col struct {
		name   string
		shares map[string]float64
		total  string
	}
	var cols []col
	for _, path := range paths {
		p, err := ReadProfile(path)
		if err != nil {
			return err
		}
		i := p.ValueIndex()
		if i < 0 {
			return fmt.Errorf("%s: no sample types", path)
		}
		shares, total := p.Shares(i)
		c := col{name: filepath.Base(path), shares: shares}
		switch t := p.SampleTypes[i]; {
		case strings.HasSuffix(t, "/nanoseconds"):
			c.total = fmt.Sprintf("%.2f CPU-s", float64(total)/1e9)
		case strings.HasSuffix(t, "/bytes"):
			c.total = fmt.Sprintf("%.0f MiB %s", float64(total)/(1<<20), strings.TrimSuffix(t, "/bytes"))
		default:
			c.total = fmt.Sprintf("%d %s", total, t)
		}
		cols = append(cols, c)
	}
	head, rule := "| bucket |", "|---|"
	for _, c := range cols {
		head += " " + c.name + " |"
		rule += "---:|"
	}
	fmt.Fprintln(w, head)
	fmt.Fprintln(w, rule)
	for _, b := range Buckets {
		line, any := "| "+b+" |", false
		for _, c := range cols {
			v := c.shares[b]
			any = any || v > 0
			line += fmt.Sprintf(" %.1f%% |", 100*v)
		}
		if any {
			fmt.Fprintln(w, line)
		}
	}
	line := "| total |"
	for _, c := range cols {
		line += " " + c.total + " |"
	}
	fmt.Fprintln(w, line)
	return nil
}
