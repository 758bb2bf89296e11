package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cdcflow/cdcflow/tools/dbzenc"
	"github.com/cdcflow/cdcflow/tools/dynalite"
	"github.com/cdcflow/cdcflow/tools/embedded"
	"github.com/cdcflow/cdcflow/tools/oracle"
	"github.com/cdcflow/cdcflow/tools/registry"
	"github.com/cdcflow/cdcflow/tools/shopsim"
)

// env is one phase's world: a broker, the sink's server and a probe.
type env struct {
	dir    string
	kafka  *embedded.Kafka
	dyn    *dynalite.Server
	dynCl  *dynamodb.Client
	s3     *embedded.S3
	bucket string
	probe  *probe
	// sr and register are the Schema Registry of an Avro run and the
	// producer's registration through its REST protocol (nil for JSON).
	format   dbzenc.Format
	sr       *registry.Server
	register func(subject, schema string) (int32, error)
}

// encodeOptions are the records' format: the envelope as the run's
// converter writes it, with the run's registry when it needs one.
func (e *env) encodeOptions() dbzenc.EncodeOptions {
	return dbzenc.EncodeOptions{Format: e.format, Register: e.register}
}

func startEnv(ctx context.Context, o Options, svc Service, phase string) (*env, error) {
	dir, err := workDir(o, svc, phase)
	if err != nil {
		return nil, err
	}
	format, err := dbzenc.ConverterFormat(o.converter())
	if err != nil {
		return nil, err
	}
	e := &env{dir: dir, format: format}
	e.kafka, err = embedded.StartKafka(embedded.KafkaOptions{Partitions: o.Partitions,
		Topics: []string{"dbserver1.public.products", "dbserver1.public.orders", "dbserver1.public.order_items"}})
	if err != nil {
		return nil, fmt.Errorf("start kafka: %w", err)
	}
	if e.probe, err = newProbe(e.kafka.Brokers()); err != nil {
		e.Close()
		return nil, err
	}
	if format.Registry() {
		if e.sr, err = registry.Start(registry.Options{}); err != nil {
			e.Close()
			return nil, fmt.Errorf("start schema registry: %w", err)
		}
		e.register = registry.Registrar(e.sr.URL(), registry.RegistrarOptions{SchemaType: format.SchemaType()})
	}
	if !o.Sinks {
		return e, nil
	}
	switch svc.Sink {
	case SinkDynamo:
		if e.dyn, err = dynalite.Start(ctx, dynalite.Options{Logger: o.Log}); err != nil {
			e.Close()
			return nil, fmt.Errorf("start dynalite: %w", err)
		}
		if e.dynCl, err = e.dyn.Client(ctx); err != nil {
			e.Close()
			return nil, err
		}
	case SinkS3:
		if e.s3, err = embedded.StartS3(embedded.S3Options{}); err != nil {
			e.Close()
			return nil, fmt.Errorf("start s3: %w", err)
		}
		e.bucket = "bench-analytics"
		if err := e.s3.CreateBucket(ctx, e.bucket); err != nil {
			e.Close()
			return nil, err
		}
	}
	return e, nil
}

func (e *env) Close() {
	if e.probe != nil {
		e.probe.Close()
	}
	if e.dyn != nil {
		_ = e.dyn.Stop()
	}
	if e.s3 != nil {
		e.s3.Close()
	}
	if e.kafka != nil {
		e.kafka.Close()
	}
	if e.sr != nil {
		e.sr.Close()
	}
}

// child is a service (or skeleton) process.
type child struct {
	cmd      *exec.Cmd
	url      string
	logPath  string
	clientID string // KAFKA_CLIENT_ID: the member's client id in its group
	started  time.Time
	done     chan error
}

// childSpec says which process to start: the service (-serve) or its
// skeleton (-serve-skeleton), and what of the environment is its own.
type childSpec struct {
	name     string // log file (<name>.log) and state directory (<name>-state) in the phase's directory
	skeleton bool
	group    string // KAFKA_GROUP_ID; "" keeps the service's default
	clientID string // KAFKA_CLIENT_ID
	profile  string // -profile: the CPU profile's file ("" none); the allocation profile goes beside it
}

// startService starts one process of spec over the phase's broker (and
// sink) and waits until its HTTP API answers.
func (e *env) startService(ctx context.Context, o Options, svc Service, inputs []string, spec childSpec) (*child, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	c := &child{url: "http://127.0.0.1:" + strconv.Itoa(port), logPath: filepath.Join(e.dir, spec.name+".log"),
		clientID: spec.clientID, done: make(chan error, 1)}
	logf, err := os.Create(c.logPath)
	if err != nil {
		return nil, err
	}
	args := []string{"-serve", svc.Spec.Name}
	if spec.skeleton {
		args = []string{"-serve-skeleton", svc.Spec.Name}
	} else if !o.Sinks {
		args = append(args, "-no-sinks")
	}
	if spec.profile != "" {
		args = append(args, "-profile", spec.profile)
	}
	c.cmd = exec.Command(o.Exe, args...)
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	c.cmd.Env = append(os.Environ(),
		"KAFKA_BOOTSTRAP_SERVERS="+strings.Join(e.kafka.Brokers(), ","),
		"KAFKA_TOPICS="+strings.Join(inputs, ","),
		"KAFKA_CLIENT_ID="+spec.clientID,
		"HTTP_ADDR=127.0.0.1:"+strconv.Itoa(port),
		"STATE_DIR="+filepath.Join(e.dir, spec.name+"-state"),
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=bench", "AWS_SECRET_ACCESS_KEY=bench",
		"FLUSH_INTERVAL=1",
	)
	if spec.group != "" {
		c.cmd.Env = append(c.cmd.Env, "KAFKA_GROUP_ID="+spec.group)
	}
	if e.sr != nil {
		c.cmd.Env = append(c.cmd.Env, "SCHEMA_REGISTRY_URL="+e.sr.URL())
	}
	switch {
	case spec.skeleton:
	case e.dyn != nil:
		c.cmd.Env = append(c.cmd.Env, "AWS_ENDPOINT_URL="+e.dyn.Endpoint())
	case e.s3 != nil:
		c.cmd.Env = append(c.cmd.Env, "AWS_ENDPOINT_URL="+e.s3.Endpoint(), "S3_BUCKET="+e.bucket)
	}
	c.started = time.Now()
	if err := c.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", spec.name, err)
	}
	go func() { c.done <- c.cmd.Wait(); logf.Close() }()
	// Wait for the API, so that a service that cannot start fails fast.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get(c.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			return c, nil
		}
		select {
		case err := <-c.done:
			c.done <- err
			return nil, c.annotate(fmt.Errorf("%s exited at start: %v", spec.name, err))
		case <-ctx.Done():
			c.Stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.Stop()
			return nil, c.annotate(errors.New("service API did not come up within 2m"))
		}
	}
}

// Stop sends SIGTERM and waits for the exit (SIGKILL after 40s).
func (c *child) Stop() {
	if c.cmd.ProcessState != nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(40 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// annotate adds where the service's log is to err.
func (c *child) annotate(err error) error {
	return fmt.Errorf("%w (service log: %s)", err, c.logPath)
}

// sinkConverged waits until the sink holds every table change and returns
// when its last write completed (the latest over the group's processes).
func (e *env) sinkConverged(ctx context.Context, svc Service, cs []*child, group, table string) (time.Time, error) {
	switch svc.Sink {
	case SinkDynamo:
		if err := e.probe.waitCaughtUp(ctx, group+"-dynamodb", table); err != nil {
			return time.Time{}, err
		}
		ts := 0.0
		for _, c := range cs {
			m, err := scrape(ctx, c.url)
			if err != nil {
				return time.Time{}, err
			}
			ts = max(ts, m.max("mirror_last_write_timestamp_seconds"))
		}
		if ts == 0 {
			return time.Time{}, errors.New("the mirror reports no write")
		}
		return unixSeconds(ts), nil
	default:
		// Reports are flushed every FLUSH_INTERVAL (1s here), by the
		// process owning partition 0: the first flush that starts after
		// the processor caught up has everything.
		caught := time.Now()
		for {
			for _, c := range cs {
				m, err := scrape(ctx, c.url)
				if err != nil {
					return time.Time{}, err
				}
				if ts := unixSeconds(m.max("analytics_s3_last_success_timestamp_seconds")); ts.After(caught) {
					return ts, nil
				}
			}
			select {
			case <-ctx.Done():
				return time.Time{}, fmt.Errorf("no S3 flush after the processor caught up: %w", ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

func unixSeconds(s float64) time.Time { return time.Unix(0, int64(s*1e9)) }

// verify compares the converged result with the oracle: with DynamoDB,
// every item's stock (inventory) or the number of documents (search);
// otherwise (no sinks, or the analytics' S3) the group table read from
// Kafka (verifyTable).
func verify(ctx context.Context, e *env, svc Service, group string, changes []shopsim.Change, sinks bool) string {
	switch {
	case svc.Spec.Name == "inventory-service" && sinks:
		want := oracle.ExpectInventory(changes)
		got, err := scanN(ctx, e.dynCl, "inventory-realtime", "product_id", "stock_quantity")
		if err != nil {
			return "scan failed: " + err.Error()
		}
		bad := len(got) - len(want)
		if bad < 0 {
			bad = -bad
		}
		for id, w := range want {
			if got[strconv.FormatInt(id, 10)] != strconv.FormatInt(w.Stock, 10) {
				bad++
			}
		}
		if bad > 0 {
			return fmt.Sprintf("MISMATCH: %d of %d DynamoDB items differ from the oracle", bad, len(want))
		}
		return fmt.Sprintf("%d DynamoDB items = oracle", len(want))
	case svc.Spec.Name == "search-indexer" && sinks:
		want := oracle.ExpectSearch(changes)
		got, err := scanN(ctx, e.dynCl, "product-search-index", "product_id", "price")
		if err != nil {
			return "scan failed: " + err.Error()
		}
		if len(got) != len(want) {
			return fmt.Sprintf("MISMATCH: %d DynamoDB documents, oracle %d", len(got), len(want))
		}
		return fmt.Sprintf("%d DynamoDB documents = oracle count", len(want))
	default:
		return verifyTable(ctx, e.probe, svc.Spec.Name, group, changes)
	}
}

// scanN reads attribute attr of every item of table, by key attribute.
func scanN(ctx context.Context, cl *dynamodb.Client, table, key, attr string) (map[string]string, error) {
	out := map[string]string{}
	p := dynamodb.NewScanPaginator(cl, &dynamodb.ScanInput{TableName: aws.String(table)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, it := range page.Items {
			out[attrValue(it[key])] = attrValue(it[attr])
		}
	}
	return out, nil
}

func attrValue(v types.AttributeValue) string {
	switch x := v.(type) {
	case *types.AttributeValueMemberN:
		return x.Value
	case *types.AttributeValueMemberS:
		return x.Value
	}
	return ""
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
