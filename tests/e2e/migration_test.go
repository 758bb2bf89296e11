package e2e

// The migration trap (issue 12): the default group ids are the Python
// services' own. Where a Python service committed its offsets, a service
// started with the same group id used to begin after them and skip the
// snapshot and the history silently (1 of 105 products known, readiness
// OK). Now it refuses, naming the fix; with ON_EMPTY_STATE=reprocess it
// re-reads its inputs from the start.

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/cdcflow/cdcflow/testkit/testenv"
	"github.com/cdcflow/cdcflow/tools/dbzenc"
	"github.com/cdcflow/cdcflow/tools/embedded"
	"github.com/cdcflow/cdcflow/tools/shopsim"
)

// migCommit commits, for group, the given offsets the way a consumer
// outside any Goka group does (kafka-python's commit after consuming): an
// OffsetCommit with generation -1, from a franz-go client.
func migCommit(t *testing.T, k *embedded.Kafka, group string, offsets map[procTP]int64) {
	t.Helper()
	// Kafka 2.3's request versions, as kafka-python speaks them (topics by
	// name, not by id).
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Brokers()...), kgo.MaxVersions(kversion.V2_3_0()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation = group, -1
	byTopic := map[string]*kmsg.OffsetCommitRequestTopic{}
	for tp, o := range offsets {
		rt := byTopic[tp.topic]
		if rt == nil {
			v := kmsg.NewOffsetCommitRequestTopic()
			v.Topic = tp.topic
			rt = &v
			byTopic[tp.topic] = rt
		}
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = tp.partition, o
		rt.Partitions = append(rt.Partitions, rp)
	}
	for _, rt := range byTopic {
		req.Topics = append(req.Topics, *rt)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("commit offsets of %s: %v", group, err)
	}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				t.Fatalf("commit offset of %s on %s/%d: %v", group, rt.Topic, rp.Partition, err)
			}
		}
	}
}

// migWaitExit waits for the current process to exit by itself.
func migWaitExit(t *testing.T, p *procService, within time.Duration) procExit {
	t.Helper()
	r := p.current()
	select {
	case <-r.done:
		return r.exit
	case <-time.After(within):
		t.Fatalf("%s: still running %v after start, want it to refuse to start:\n%s", p.label, within, procTail(r.log, 30))
		return procExit{}
	}
}

func TestMigrationTrap(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const group = "search-indexer-group" // the default: the Python search-indexer's group id
	db := testenv.Dynalite(t)
	k := startKafka(t)
	topic := "dbserver1.public.products"

	// The Debezium snapshot of about 105 products, already read and
	// committed by the Python service.
	shop := shopsim.New(shopsim.Config{Seed: 12, Products: 105})
	recs, err := shopsim.Encode(shop.Snapshot(), dbzenc.EncodeOptions{Format: dbzenc.FormatEnvelope})
	if err != nil {
		t.Fatal(err)
	}
	var products []shopsim.Record
	ids := map[int64]bool{}
	for _, r := range recs {
		if r.Topic == topic {
			products = append(products, r)
			ids[r.Change.ID] = true
		}
	}
	if len(ids) < 100 {
		t.Fatalf("snapshot has %d products, want about 105", len(ids))
	}
	produce(t, k.Brokers(), products)
	_, hwm, err := procOffsets(k, "", topic)
	if err != nil {
		t.Fatal(err)
	}
	migCommit(t, k, group, hwm)

	env := chaosAWSEnv(db.Endpoint())
	env["KAFKA_BOOTSTRAP_SERVERS"] = strings.Join(k.Brokers(), ",")
	env["DYNAMODB_TABLE"] = "migration-products"

	// By default: refuse, naming both ways out.
	p := procStart(t, "search-indexer", "search", env)
	exit := migWaitExit(t, p, 20*time.Second)
	log := procTail(p.current().log, 5)
	if exit.code == 0 || !strings.Contains(log, "KAFKA_GROUP_ID") || !strings.Contains(log, "ON_EMPTY_STATE=reprocess") ||
		!strings.Contains(log, "search-indexer-group-table does not exist") || !strings.Contains(log, fmt.Sprintf("%d records of %s", len(products), topic)) {
		t.Fatalf("started over the Python group's offsets: %s, want exit code != 0 and a message naming KAFKA_GROUP_ID and ON_EMPTY_STATE=reprocess:\n%s", exit, log)
	}
	t.Logf("refused with %s: %s", exit, log)

	// With ON_EMPTY_STATE=reprocess: the snapshot is read, every product known.
	p.env["ON_EMPTY_STATE"] = "reprocess"
	p.Restart(false)
	p.WaitReady(60 * time.Second)
	migAllKnown(t, p, ids)
	if p.LogCount("re-reading the inputs from the beginning") != 1 {
		t.Errorf("the log does not say once that the inputs are re-read")
	}
	ssTerminate(t, p, "running")
	// Goka's lines too are JSON, routine ones at INFO.
	if lines := ssCheckJSONLog(t, p.current().log); !ssHasLine(lines, "INFO", "goka", "setup generation") {
		t.Errorf("no INFO line of Goka's about its group generation")
	}

	// A restart without the setting finds the state that goes with the
	// offsets: no refusal, nothing re-read.
	delete(p.env, "ON_EMPTY_STATE")
	p.Restart(false)
	p.WaitReady(60 * time.Second)
	migAllKnown(t, p, ids)
	if n := p.LogCount("re-reading the inputs from the beginning"); n != 1 {
		t.Errorf("%d runs re-read the inputs, want only the one with ON_EMPTY_STATE=reprocess", n)
	}
	ssTerminate(t, p, "running")
}

// migAllKnown waits until the service's API knows every product of ids.
func migAllKnown(t *testing.T, p *procService, ids map[int64]bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var missing []int64
		for id := range ids {
			if procGet(fmt.Sprintf("%s/v1/products/%d", p.URL(), id)) != http.StatusOK {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 {
			t.Logf("all %d products known", len(ids))
			return
		}
		if time.Now().After(deadline) {
			sort.Slice(missing, func(i, j int) bool { return missing[i] < missing[j] })
			t.Fatalf("%d of %d products unknown, e.g. %v", len(missing), len(ids), missing[:min(5, len(missing))])
		}
		p.CheckRunning()
		time.Sleep(300 * time.Millisecond)
	}
}
