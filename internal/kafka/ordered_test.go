package kafka

import "testing"

func TestTrackerCommitsOnlyContiguousPrefix(t *testing.T) {
	tr := &tracker{}
	for o := int64(10); o < 15; o++ {
		tr.dispatched(o)
	}
	steps := []struct {
		complete int64
		next     int64
		advanced bool
	}{
		{12, 0, false}, // 10 and 11 still pending
		{11, 0, false},
		{10, 13, true}, // 10,11,12 done
		{14, 0, false}, // 13 pending
		{13, 15, true},
	}
	for _, s := range steps {
		next, adv := tr.complete(s.complete)
		if next != s.next || adv != s.advanced {
			t.Fatalf("complete(%d) = %d,%v; want %d,%v", s.complete, next, adv, s.next, s.advanced)
		}
	}
	if len(tr.inflight) != 0 {
		t.Fatalf("inflight left: %v", tr.inflight)
	}
}
