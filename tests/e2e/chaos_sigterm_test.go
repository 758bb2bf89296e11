package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/processors/analytics"
	"github.com/cdcflow/cdcflow/tools/embedded"
	anviews "github.com/cdcflow/cdcflow/views/analytics"
)

// chaosSigtermSize sizes the SIGTERM scenario.
func chaosSigtermSize() (changes int, feed time.Duration) {
	if chaosLong {
		return 50_000, 60 * time.Second
	}
	return 8_000, 16 * time.Second
}

// TestChaosSigterm proves that a graceful stop in the middle of the load
// loses nothing and counts nothing twice. For each service binary, while
// a stream of changes is being produced, the service gets SIGTERM at a
// seeded random moment: it must exit with code 0 within 30 s, having
// committed the offsets of every input record it handled; the
// analytics-service must have flushed its reports once more, after the
// SIGTERM, holding exactly the group table's final state in Kafka (not a
// view lagging behind it). A restart with the same STATE_DIR must resume at
// the committed offsets, and the end state must equal the oracle.
func TestChaosSigterm(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	n, feed := chaosSigtermSize()
	for _, tc := range []struct {
		name  string
		setup func(*testing.T, uint64, int) *chaosTarget
		seed  uint64
	}{
		{"inventory", chaosInventory, 201},
		{"analytics", chaosAnalytics, 202},
		{"search", chaosSearch, 203},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			seed := chaosSeed(t, tc.seed)
			chaosSigterm(t, tc.setup(t, seed, n), seed, feed)
		})
	}
}

func chaosSigterm(t *testing.T, c *chaosTarget, seed uint64, feed time.Duration) {
	began := time.Now()
	rng := chaosRand(seed)
	t.Logf("%s: %d changes on %s (%d records with replays and tombstones), produced over %v",
		c.binary, c.changes, strings.Join(c.inputs, ", "), len(c.records), feed)
	// The first part of the stream arrives progressively; then the rest
	// starts with a burst, and the SIGTERM comes while the service works
	// through it, with the rest still being produced.
	burst := max(4000, len(c.records)/6)
	cut := len(c.records) / 2
	f := chaosProduce(t, c.k, c.records[:cut], feed/2)
	var extra map[string]string
	if c.s3c != nil {
		// No periodic flush in the first run: every report in S3 after
		// it stopped comes from its shutdown flush.
		extra = map[string]string{"FLUSH_INTERVAL": "86400"}
	}
	p := c.start(t, c.binary, extra)
	ready := p.WaitReady(2 * time.Minute)
	f.wait(t, 2*time.Minute)
	time.Sleep(time.Second)
	rest := chaosProduceChunks(t, c.k, c.records[cut:], burst, feed/2)
	d := chaosBetween(rng, 0, 150*time.Millisecond)
	time.Sleep(d)

	handled := p.Handled()
	if handled == 0 {
		procDiagnose(t, c.k, c.group, c.inputs...)
		p.Dump()
		t.Fatalf("the service handled nothing of the %d records produced before the SIGTERM: stuck", cut)
	}
	produced := int64(cut) + rest.produced.Load()
	sigterm := time.Now()
	exit, took := p.Terminate(45 * time.Second)
	t.Logf("SIGTERM %v after a burst of %d records began (ready %v after start), %d of %d input records produced, ≥%d handled: %s after %v",
		d.Round(time.Millisecond), burst, ready.Round(time.Millisecond), produced, len(c.records), handled, exit, took.Round(time.Millisecond))
	if exit.code != 0 || took > 30*time.Second {
		t.Fatalf("after SIGTERM the service ended with %s after %v, want exit code 0 within 30 s:\n%s", exit, took, procTail(p.current().log, 40))
	}
	if produced >= int64(len(c.records)) {
		t.Fatalf("the load had ended before the SIGTERM; the test needs a longer feed")
	}
	if n := procLogCount(p.current().log, "shutting down"); n != 1 {
		t.Errorf("the log says %d times that the service is shutting down, want 1", n)
	}
	committed, hwm, err := procOffsets(c.k, c.group, c.inputs...)
	if err != nil {
		t.Fatal(err)
	}
	backlog := procSum(hwm) - procSum(committed)
	t.Logf("committed at exit: %d input records (%d more were in Kafka then)", procSum(committed), backlog)
	if procSum(committed) < int64(handled) {
		t.Errorf("the group committed %d input records but the process had handled at least %d before the SIGTERM: the shutdown did not commit what it processed",
			procSum(committed), handled)
	}
	if c.s3c != nil {
		chaosCheckShutdownFlush(t, c, sigterm)
	}

	// The restart keeps the STATE_DIR and resumes where the stop left off.
	if c.s3c != nil {
		p.env["FLUSH_INTERVAL"] = "1"
	}
	p.Restart(false)
	rest.wait(t, 3*time.Minute)
	p.WaitReady(2 * time.Minute)
	c.verify(t, p.URL(), 4*time.Minute, p)
	p.scrape()
	p.mu.Lock()
	again := p.handled[len(p.handled)-1]
	p.mu.Unlock()
	// It read from the committed offsets on: exactly the rest, unless a
	// rebalance within it (the broker dropping its session) made it read
	// again what it had not committed yet.
	want := len(c.records) - int(procSum(committed))
	gens := procLogCount(p.current().log, "["+"Processor "+c.group+"] setup generation")
	switch {
	case gens == 1 && again != want:
		t.Errorf("the restarted process handled %d input records, want the %d after the committed offsets", again, want)
	case again < want:
		t.Errorf("the restarted process handled %d input records, fewer than the %d after the committed offsets", again, want)
	case gens > 1:
		t.Logf("the restarted process went through %d assignments and handled %d input records, %d of them again", gens, again, again-want)
	}
	t.Logf("SUMMARY %s sigterm: %d changes, %d input records, SIGTERM at +%v with %d produced, exit code %d after %v, %d committed (backlog %d), restart handled %d, %v",
		c.binary, c.changes, len(c.records), sigterm.Sub(began).Round(time.Millisecond), produced, exit.code, took.Round(time.Millisecond),
		procSum(committed), backlog, again, time.Since(began).Round(100*time.Millisecond))
}

// chaosCheckShutdownFlush checks the analytics shutdown flush: one set of
// the five reports, generated and stored after the SIGTERM, and every
// report and window object equal to what the group table holds in its
// Kafka changelog (the processor had stopped before the flush, so the
// changelog is the state the flush must show).
func chaosCheckShutdownFlush(t *testing.T, c *chaosTarget, sigterm time.Time) {
	t.Helper()
	ctx := context.Background()
	objs, err := chaosListS3(ctx, c.s3c)
	if err != nil {
		t.Fatal(err)
	}
	stamps := map[string][]string{}
	windows := map[string]s3Object{}
	for key, o := range objs {
		if m := anReportKey.FindStringSubmatch(key); m != nil {
			stamps[m[1]] = append(stamps[m[1]], m[2])
			if o.modified.Before(sigterm.Truncate(time.Second)) {
				t.Errorf("%s was stored at %s, before the SIGTERM at %s: not the shutdown flush", key, o.modified, sigterm)
			}
			continue
		}
		if anWindowKey.MatchString(key) {
			windows[key] = o
		}
	}

	// The state the flush must show: the changelog, read to its end.
	snap, entries := chaosChangelogSnapshot(t, c.k, c.group+"-table")
	var d diffs
	for _, name := range anReports {
		if len(stamps[name]) != 1 {
			d.add("%d %s reports after the stop, want the shutdown flush's one", len(stamps[name]), name)
			continue
		}
		key := fmt.Sprintf("analytics/%s/%s.json", name, stamps[name][0])
		body, err := anGet(ctx, c.s3c, key)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := anParseReport(name, body, sigterm)
		if err != nil {
			d.add("%s: %v", key, err)
			continue
		}
		rep, err := snap.Report(name, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		wantBody, err := json.Marshal(rep)
		if err != nil {
			t.Fatal(err)
		}
		var want map[string]json.RawMessage
		if err := json.Unmarshal(wantBody, &want); err != nil {
			t.Fatal(err)
		}
		field := anDataField(name)
		var a, b bytes.Buffer
		if json.Compact(&a, doc[field]) != nil || json.Compact(&b, want[field]) != nil || a.String() != b.String() {
			d.add("%s %s differs from the changelog's state:\n    got  %.300s\n    want %.300s", key, field, a.String(), b.String())
		}
	}
	seen := map[string]bool{}
	for _, w := range snap.Windows {
		key := fmt.Sprintf("analytics/windows/date=%s/%s.json", w.Day(), time.Unix(w.Start, 0).UTC().Format("1504"))
		seen[key] = true
		o, ok := windows[key]
		if !ok {
			d.add("window %s is in the changelog but has no object", key)
			continue
		}
		want, err := json.Marshal(w.Document())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(o.body, want) {
			d.add("window %s = %s, the changelog says %s", key, o.body, want)
		}
	}
	for key := range windows {
		if !seen[key] {
			d.add("window object %s has no window in the changelog", key)
		}
	}
	if d.n > 0 {
		t.Errorf("the shutdown flush is not the final state of the group table: %s", d.String())
	}
	t.Logf("shutdown flush: 5 reports stamped %v and %d windows, equal to the changelog's %d entries", stamps["summary"], len(windows), entries)
}

// s3Object is an object of the analytics bucket.
type s3Object struct {
	modified time.Time
	body     []byte
}

// chaosListS3 reads every object under analytics/ (window bodies included).
func chaosListS3(ctx context.Context, s3c *s3.Client) (map[string]s3Object, error) {
	out := map[string]s3Object{}
	p := s3.NewListObjectsV2Paginator(s3c, &s3.ListObjectsV2Input{Bucket: aws.String(anBucket), Prefix: aws.String("analytics/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/analytics/: %w", anBucket, err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			obj := s3Object{modified: aws.ToTime(o.LastModified)}
			if anWindowKey.MatchString(key) {
				body, err := anGet(ctx, s3c, key)
				if err != nil {
					return nil, err
				}
				obj.body = body
			}
			out[key] = obj
		}
	}
	return out, nil
}

// chaosChangelogSnapshot reads a group table's changelog from the start to
// its high watermarks and returns the analytics snapshot of its final
// state (through the service's own report code: what is checked is which
// state a report shows, not how it renders it), and the number of entries.
func chaosChangelogSnapshot(t *testing.T, k *embedded.Kafka, topic string) (*anviews.Snapshot, int) {
	t.Helper()
	_, hwm, err := procOffsets(k, "", topic)
	if err != nil {
		t.Fatal(err)
	}
	parts := map[int32]kgo.Offset{}
	left := 0
	for tp, h := range hwm {
		if h > 0 {
			parts[tp.partition] = kgo.NewOffset().AtStart()
			left++
		}
	}
	table := map[string][]byte{}
	entries := 0
	if left > 0 {
		cl, err := kgo.NewClient(kgo.SeedBrokers(k.Brokers()...),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		done := map[int32]bool{}
		for len(done) < left {
			fs := cl.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				t.Fatalf("reading the changelog %s: %v", topic, err)
			}
			fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("reading the changelog %s: %v", topic, err) })
			fs.EachRecord(func(r *kgo.Record) {
				if r.Offset >= hwm[procTP{topic, r.Partition}] {
					return
				}
				entries++
				if r.Value == nil {
					delete(table, string(r.Key))
				} else {
					table[string(r.Key)] = r.Value
				}
				if r.Offset == hwm[procTP{topic, r.Partition}]-1 {
					done[r.Partition] = true
				}
			})
		}
	}
	// Folded from scratch, not through the view's incremental fold.
	figs := analytics.NewFigures()
	for key, b := range table {
		v, err := analytics.TableCodec{}.Decode(b)
		if err != nil {
			t.Fatalf("changelog %s: value of %s: %v", topic, key, err)
		}
		figs.Add(v, +1)
	}
	return anviews.SnapshotOf(figs), entries
}
