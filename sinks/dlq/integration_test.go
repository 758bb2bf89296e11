package dlq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/lovoo/goka"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/codecs/deadletter"
	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/internal/kafka"
	"github.com/cdcflow/cdcflow/sinks/s3put"
	"github.com/cdcflow/cdcflow/testkit/testenv"
)

// letter is a dead letter produced to the DLQ topic, with where it landed.
type letter struct {
	rec *kgo.Record
}

func newLetter(key string, value []byte, ts time.Time, headers map[string]string) letter {
	r := &kgo.Record{Topic: testDLQ, Key: []byte(key), Value: value, Timestamp: ts}
	names := make([]string, 0, len(headers))
	for k := range headers {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: k, Value: []byte(headers[k])})
	}
	return letter{rec: r}
}

// expected returns the object the archiver must write for l.
func (l letter) expected(t *testing.T) object {
	t.Helper()
	h := goka.Headers{}
	for _, rh := range l.rec.Headers {
		h[rh.Key] = rh.Value
	}
	obj, err := buildObject(Record{Topic: l.rec.Topic, Partition: l.rec.Partition, Offset: l.rec.Offset,
		Timestamp: l.rec.Timestamp, Key: l.rec.Key, Value: l.rec.Value, Headers: h}, testService)
	if err != nil {
		t.Fatal(err)
	}
	return obj
}

func produceLetters(t *testing.T, brokers []string, letters ...letter) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, len(letters))
	for i, l := range letters {
		recs[i] = l.rec
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce dead letters: %v", err)
	}
}

func kafkaSettings(t *testing.T, brokers []string) *kafka.Settings {
	t.Helper()
	env := map[string]string{"KAFKA_BOOTSTRAP_SERVERS": brokers[0], "STATE_DIR": t.TempDir()}
	cfg, err := config.Load(config.Inventory, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	cfg.KafkaVersion = sarama.V2_3_0_0 // what the embedded broker supports (embedded.SaramaVersion)
	s, err := kafka.New(cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	s.Log = discardLog()
	return s
}

// archiverRun is one start of the archiver: its processor and its writers.
type archiverRun struct {
	a          *Archiver
	reg        *prometheus.Registry
	stopProc   context.CancelFunc
	stopWriter context.CancelFunc
	procDone   chan error
	writerDone chan error
}

func startRun(t *testing.T, s *kafka.Settings, client s3put.API, group string, drain time.Duration) *archiverRun {
	t.Helper()
	reg := prometheus.NewRegistry()
	a := newTestArchiver(t, client, reg, func(o *Options) {
		o.Group = goka.Group(group)
		o.DrainTimeout = drain
	})
	proc, err := goka.NewProcessor(s.Brokers, a.Graph(), s.ProcessorOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	r := &archiverRun{a: a, reg: reg, procDone: make(chan error, 1), writerDone: make(chan error, 1)}
	var pctx, wctx context.Context
	pctx, r.stopProc = context.WithCancel(context.Background())
	wctx, r.stopWriter = context.WithCancel(context.Background())
	go func() { r.writerDone <- a.Run(wctx) }()
	go func() { r.procDone <- proc.Run(pctx) }()
	t.Cleanup(func() {
		r.stopProc()
		r.stopWriter()
	})
	return r
}

// waitArchived waits until this run has archived n dead letters.
func (r *archiverRun) waitArchived(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		got := metricValue(t, r.reg, "dlq_s3_archived_total")
		if got >= float64(n) {
			return
		}
		select {
		case err := <-r.procDone:
			t.Fatalf("processor stopped after %v of %d dead letters: %v", got, n, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v of %d dead letters archived within 90s", got, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop stops the processor, then the writers (the order of app.Serve), and
// returns the processor's error.
func (r *archiverRun) stop(t *testing.T) error {
	t.Helper()
	r.stopProc()
	var perr error
	select {
	case perr = <-r.procDone:
	case <-time.After(90 * time.Second):
		t.Fatal("processor did not stop within 90s")
	}
	r.stopWriter()
	if err := <-r.writerDone; err != nil {
		t.Errorf("archiver Run: %v", err)
	}
	return perr
}

// checkObjects checks that the bucket holds exactly one object per letter,
// with the expected content.
func checkObjects(t *testing.T, cl *s3.Client, letters []letter) {
	t.Helper()
	ctx := context.Background()
	var keys []string
	p := s3.NewListObjectsV2Paginator(cl, &s3.ListObjectsV2Input{Bucket: aws.String(testBucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	want := map[string]object{}
	var wantKeys []string
	for _, l := range letters {
		obj := l.expected(t)
		if _, dup := want[obj.key]; dup {
			t.Fatalf("test letters share the object key %s", obj.key)
		}
		want[obj.key] = obj
		wantKeys = append(wantKeys, obj.key)
	}
	slices.Sort(keys)
	slices.Sort(wantKeys)
	if !slices.Equal(keys, wantKeys) {
		t.Fatalf("objects in the bucket\n%q\nwant\n%q", keys, wantKeys)
	}
	for key, obj := range want {
		out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key)})
		if err != nil {
			t.Fatalf("get %s: %v", key, err)
		}
		b, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		var got Document
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s: %v: %s", key, err, b)
		}
		if g, w := fmt.Sprintf("%+v", docView(got)), fmt.Sprintf("%+v", docView(obj.doc)); g != w {
			t.Errorf("%s:\n got %s\nwant %s", key, g, w)
		}
	}
}

// docView makes a Document comparable by value.
func docView(d Document) any {
	type view struct {
		Document
		SP, SO string
	}
	v := view{Document: d, SP: "-", SO: "-"}
	if d.SourcePartition != nil {
		v.SP = fmt.Sprint(*d.SourcePartition)
	}
	if d.SourceOffset != nil {
		v.SO = fmt.Sprint(*d.SourceOffset)
	}
	v.SourcePartition, v.SourceOffset = nil, nil
	return v
}

// checkCommitted checks that group has committed every partition of the DLQ
// topic up to the end of the letters produced to it.
func checkCommitted(t *testing.T, brokers []string, group string, letters []letter) {
	t.Helper()
	end := map[int32]int64{}
	for _, l := range letters {
		end[l.rec.Partition] = max(end[l.rec.Partition], l.rec.Offset+1)
	}
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_3_0_0
	admin, err := sarama.NewClusterAdmin(brokers, sc)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	parts := make([]int32, 0, len(end))
	for p := range end {
		parts = append(parts, p)
	}
	resp, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{testDLQ: parts})
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range end {
		b := resp.GetBlock(testDLQ, p)
		if b == nil || b.Offset != want {
			t.Errorf("group %s partition %d: committed %+v, want offset %d", group, p, b, want)
		}
	}
}

// flakyS3 fails every put while fail is set, reporting each failure.
type flakyS3 struct {
	s3put.API
	fail     atomic.Bool
	failures chan struct{}
}

func (f *flakyS3) PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if f.fail.Load() {
		select {
		case f.failures <- struct{}{}:
		default:
		}
		return nil, errors.New("flaky s3: slow down")
	}
	return f.API.PutObject(ctx, in, opts...)
}

// TestIntegrationKafkaToS3 runs the archiver as a Goka processor against an
// in-process Kafka-protocol broker and S3 endpoint: one object per dead
// letter, offsets committed after the writes; a run of a new group
// reprocesses everything and overwrites the same objects; and a dead letter
// S3 refused until shutdown is left uncommitted and archived by the next
// start.
func TestIntegrationKafkaToS3(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	k := testenv.Kafka(t, testDLQ)
	_, s3c := testenv.S3(t, testBucket)
	brokers := k.Brokers()
	settings := kafkaSettings(t, brokers)

	at := time.Date(2025, 1, 15, 12, 0, 0, 0, time.UTC)
	hdr := func(topic, part, off, msg string) map[string]string {
		return map[string]string{deadletter.HeaderError: msg, deadletter.HeaderSourceTopic: topic, deadletter.HeaderSourcePartition: part,
			deadletter.HeaderSourceOffset: off, deadletter.HeaderService: testService}
	}
	letters := []letter{
		newLetter(`{"id":1}`, []byte(`not json`), at, hdr("dbserver1.public.products", "0", "10", "decode: invalid character 'o'")),
		newLetter(`{"id":2}`, []byte(`{"after":{"id":2}}`), at, hdr("dbserver1.public.products", "0", "11", "decode: missing column name")),
		newLetter(`{"id":3}`, []byte(`{"after":{"id":3}}`), at.Add(time.Second), hdr("dbserver1.public.order_items", "2", "10", "decode: quantity: wrong type")),
		newLetter(`{"id":4}`, []byte{0xde, 0xad, 0xbe, 0xef}, at.Add(2*time.Second), hdr("dbserver1.public.order_items", "1", "3", "decode: not JSON")),
		newLetter(`{"id":5}`, []byte(`{}`), at.Add(3*time.Second), nil), // no headers at all
		newLetter(`{"id":6}`, []byte(`{"after":{"id":6}}`), at.Add(4*time.Second), hdr("dbserver1.public.products", "1", "7", "decode: price: not a number")),
	}
	produceLetters(t, brokers, letters...)

	// First start: everything archived and committed.
	r1 := startRun(t, settings, s3c, "inventory-service-group-dlq-s3", 0)
	r1.waitArchived(t, len(letters))
	if err := r1.stop(t); err != nil {
		t.Fatalf("processor: %v", err)
	}
	checkObjects(t, s3c, letters)
	checkCommitted(t, brokers, "inventory-service-group-dlq-s3", letters)

	// From scratch (a new group): every dead letter is written again, to
	// the same objects.
	r2 := startRun(t, settings, s3c, "fresh-group-dlq-s3", 0)
	r2.waitArchived(t, len(letters))
	if err := r2.stop(t); err != nil {
		t.Fatalf("processor of the fresh group: %v", err)
	}
	checkObjects(t, s3c, letters)

	// S3 refuses the next dead letter until shutdown: it stays uncommitted
	// and the processor says why.
	late := newLetter(`{"id":7}`, []byte(`{"after":{"id":7}}`), at.Add(5*time.Second), hdr("dbserver1.public.orders", "2", "99", "decode: status missing"))
	produceLetters(t, brokers, late)
	flaky := &flakyS3{API: s3c, failures: make(chan struct{}, 1)}
	flaky.fail.Store(true)
	r3 := startRun(t, settings, flaky, "inventory-service-group-dlq-s3", 200*time.Millisecond)
	select {
	case <-flaky.failures:
	case err := <-r3.procDone:
		t.Fatalf("processor stopped before trying the late dead letter: %v", err)
	case <-time.After(90 * time.Second):
		t.Fatal("no put of the late dead letter within 90s")
	}
	if err := r3.stop(t); !errors.Is(err, ErrStopped) {
		t.Fatalf("processor stopped with %v, want an error wrapping ErrStopped", err)
	}
	if v := metricValue(t, r3.reg, "dlq_s3_archived_total"); v != 0 {
		t.Fatalf("archived %v dead letters while S3 refused every put", v)
	}
	checkObjects(t, s3c, letters)
	checkCommitted(t, brokers, "inventory-service-group-dlq-s3", letters) // not past the late one

	// The next start archives it.
	r4 := startRun(t, settings, s3c, "inventory-service-group-dlq-s3", 0)
	r4.waitArchived(t, 1)
	if err := r4.stop(t); err != nil {
		t.Fatalf("processor: %v", err)
	}
	all := append(slices.Clone(letters), late)
	checkObjects(t, s3c, all)
	checkCommitted(t, brokers, "inventory-service-group-dlq-s3", all)
}
