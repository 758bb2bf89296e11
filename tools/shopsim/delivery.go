package shopsim

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/tools/dbzenc"
)

// Record is one Kafka record on a CDC topic. Change is the change it
// encodes, nil for a tombstone (Value nil).
type Record struct {
	Topic      string
	Key, Value []byte
	Change     *Change
}

// Encode turns the commit-ordered changes into the records a Debezium
// connector writes with opts, in the same (commit) order: one per change,
// with its position and unchanged-TOAST columns from Change.Src, plus a
// tombstone (the key with a null value) right after each delete.
// Record.Change points into changes.
func Encode(changes []Change, opts dbzenc.EncodeOptions) ([]Record, error) {
	out := make([]Record, 0, len(changes)+len(changes)/8)
	for i := range changes {
		c := &changes[i]
		topic, key, value, err := dbzenc.Encode(opts, c.Table, c.Op, c.ID, nilRow(c.Before), nilRow(c.After), c.Src)
		if err != nil {
			return nil, fmt.Errorf("shopsim: encode change %d (%s %c id=%d lsn=%d): %w", i, c.Table, c.Op, c.ID, c.Src.LSN, err)
		}
		out = append(out, Record{Topic: topic, Key: key, Value: value, Change: c})
		if c.Op == debezium.OpDelete {
			topic, key := dbzenc.EncodeTombstone(opts, c.Table, c.ID)
			out = append(out, Record{Topic: topic, Key: key})
		}
	}
	return out, nil
}

// nilRow turns a typed nil row pointer into an untyped nil.
func nilRow(r any) any {
	switch v := r.(type) {
	case *debezium.Product:
		if v == nil {
			return nil
		}
	case *debezium.Order:
		if v == nil {
			return nil
		}
	case *debezium.OrderItem:
		if v == nil {
			return nil
		}
	}
	return r
}

// Replay describes the re-sends of connector restarts: about every Every
// records of a topic (uniformly Every/2..3·Every/2), the last about Back
// records of that topic (uniformly 1..2·Back, at most what was sent) are
// sent again. Every <= 0 or Back <= 0 means no re-sends.
type Replay struct {
	Every int
	Back  int
}

// WithReplays returns recs with connector-restart re-sends. Within each
// topic the records keep their order, and each re-sent run is a contiguous
// run of the records already sent, ending with the last one sent
// (identical records: same key, value and position). Topics are
// independent: the result interleaves them in a seeded random order that
// keeps each topic's own order. recs is not modified.
func WithReplays(recs []Record, seed uint64, r Replay) []Record {
	rng := rand.New(rand.NewPCG(seed, seed^0x7e91_a7c0_de1e_7e55))
	byTopic := ByTopic(recs)
	topics := make([]string, 0, len(byTopic))
	for t := range byTopic {
		topics = append(topics, t)
	}
	slices.Sort(topics)

	streams := make([][]Record, len(topics))
	for ti, t := range topics {
		orig := byTopic[t]
		if r.Every <= 0 || r.Back <= 0 {
			streams[ti] = orig
			continue
		}
		interval := func() int { return max(1, r.Every/2+rng.IntN(r.Every+1)) }
		out := make([]Record, 0, len(orig)+len(orig)*r.Back/r.Every+1)
		next := interval()
		for i, rec := range orig {
			out = append(out, rec)
			if next--; next > 0 {
				continue
			}
			k := min(1+rng.IntN(2*r.Back), i+1)
			out = append(out, orig[i+1-k:i+1]...)
			next = interval()
		}
		streams[ti] = out
	}

	// Interleave the topics, each in its own order.
	total := 0
	for _, s := range streams {
		total += len(s)
	}
	out := make([]Record, 0, total)
	pos := make([]int, len(streams))
	for len(out) < total {
		left := total - len(out)
		n := rng.IntN(left)
		for i, s := range streams {
			rest := len(s) - pos[i]
			if n < rest {
				out = append(out, s[pos[i]])
				pos[i]++
				break
			}
			n -= rest
		}
	}
	return out
}

// ByTopic splits records by topic, keeping their order within each topic.
func ByTopic(recs []Record) map[string][]Record {
	out := map[string][]Record{}
	for _, r := range recs {
		out[r.Topic] = append(out[r.Topic], r)
	}
	return out
}
