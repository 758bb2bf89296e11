package shopsim

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/cdcflow/cdcflow/codecs/debezium"
)

// fakeRecords stands in for Encode: one record per change, a tombstone
// after each delete, every record unique within its topic.
func fakeRecords(changes []Change) []Record {
	var out []Record
	for i := range changes {
		c := &changes[i]
		key := []byte(fmt.Sprintf(`{"id":%d}`, c.ID))
		out = append(out, Record{Topic: c.Table, Key: key, Value: []byte(fmt.Sprintf(`{"lsn":%d}`, c.Src.LSN)), Change: c})
		if c.Op == debezium.OpDelete {
			out = append(out, Record{Topic: c.Table, Key: key})
		}
	}
	return out
}

func recordID(r Record) string { return r.Topic + "|" + string(r.Key) + "|" + string(r.Value) }

func TestWithReplaysKeepsPerTopicOrder(t *testing.T) {
	changes := New(Config{Seed: 5, Products: 10}).Generate(6000)
	recs := fakeRecords(changes)
	orig := ByTopic(recs)
	for topic, rs := range orig {
		seen := map[string]bool{}
		for _, r := range rs {
			if seen[recordID(r)] {
				t.Fatalf("test premise: record %s not unique in %s", recordID(r), topic)
			}
			seen[recordID(r)] = true
		}
	}

	got := WithReplays(recs, 99, Replay{Every: 50, Back: 10})
	if again := WithReplays(recs, 99, Replay{Every: 50, Back: 10}); !reflect.DeepEqual(got, again) {
		t.Fatal("WithReplays is not deterministic for a seed")
	}
	if len(got) <= len(recs) {
		t.Fatalf("%d records with replays, %d without", len(got), len(recs))
	}
	byTopic := ByTopic(got)
	if len(byTopic) != len(orig) {
		t.Fatalf("topics %d, want %d", len(byTopic), len(orig))
	}
	for topic, want := range orig {
		index := map[string]int{}
		for i, r := range want {
			index[recordID(r)] = i
		}
		// Walk the topic: each record is either the next one of the commit
		// order or part of a re-sent run orig[a:sent] ending with the last
		// one sent.
		sent, runs := 0, 0
		rs := byTopic[topic]
		for i := 0; i < len(rs); {
			k, ok := index[recordID(rs[i])]
			if !ok {
				t.Fatalf("%s: record %d is not one of the topic's records", topic, i)
			}
			if k == sent {
				if !reflect.DeepEqual(rs[i], want[k]) {
					t.Fatalf("%s: record %d differs from the original", topic, i)
				}
				sent++
				i++
				continue
			}
			if k > sent {
				t.Fatalf("%s: record %d is original %d, but only %d were sent: order broken", topic, i, k, sent)
			}
			runs++
			for j := k; j < sent; j++ {
				if i >= len(rs) || !reflect.DeepEqual(rs[i], want[j]) {
					t.Fatalf("%s: re-sent run from %d to %d broken at record %d", topic, k, sent, i)
				}
				i++
			}
		}
		if sent != len(want) {
			t.Fatalf("%s: %d of %d records delivered", topic, sent, len(want))
		}
		if runs < len(want)/100 {
			t.Fatalf("%s: only %d re-sent runs over %d records (about every 50 expected)", topic, runs, len(want))
		}
	}

	// Topics are interleaved, not concatenated.
	switches := 0
	for i := 1; i < len(got); i++ {
		if got[i].Topic != got[i-1].Topic {
			switches++
		}
	}
	if switches < len(got)/10 {
		t.Fatalf("only %d topic switches in %d records", switches, len(got))
	}

	// No replays: the same records per topic.
	plain := ByTopic(WithReplays(recs, 1, Replay{}))
	if !reflect.DeepEqual(plain, orig) {
		t.Fatal("WithReplays without replays changed a topic")
	}
}

func TestByTopicKeepsOrder(t *testing.T) {
	recs := []Record{{Topic: "a", Key: []byte("1")}, {Topic: "b", Key: []byte("2")}, {Topic: "a", Key: []byte("3")}}
	got := ByTopic(recs)
	want := map[string][]Record{"a": {recs[0], recs[2]}, "b": {recs[1]}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v", got)
	}
}
