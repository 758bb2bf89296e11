//go:build k8smeasure

package deploy

// A measurement, not a check (build tag k8smeasure, so CI never runs it):
// does a persistent STATE_DIR shorten a service's recovery after a restart?
// It decides between a StatefulSet with a PersistentVolumeClaim per pod and
// a Deployment with an emptyDir (README, "Deploying to Kubernetes").
//
//	go test -tags k8smeasure -count=1 -timeout 30m -run TestMeasureRestartStateDir -v ./tests/deploy/
//
// K8S_MEASURE_PRODUCTS (default 100000) and K8S_MEASURE_CHANGES (default
// 200000) size the state; K8S_MEASURE_SERVICE picks the service (default
// inventory-service). The service runs as a process (cdc-bench -serve
// <service> -no-sinks: processor, views and API without DynamoDB/S3) against
// an in-process kfake broker holding the whole stream. After it has consumed
// everything it is stopped with SIGTERM and restarted twice: once with its
// STATE_DIR kept, once with it wiped. The figure is the time from the
// process start to the first 200 of /readyz (what a readinessProbe sees).

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/tools/dbzenc"
	"github.com/cdcflow/cdcflow/tools/embedded"
	"github.com/cdcflow/cdcflow/tools/shopsim"
)

func measureEnvInt(t *testing.T, name string, def int) int {
	if v := os.Getenv(name); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return n
	}
	return def
}

func TestMeasureRestartStateDir(t *testing.T) {
	products := measureEnvInt(t, "K8S_MEASURE_PRODUCTS", 100000)
	changes := measureEnvInt(t, "K8S_MEASURE_CHANGES", 200000)
	service := os.Getenv("K8S_MEASURE_SERVICE")
	if service == "" {
		service = "inventory-service"
	}
	ctx := context.Background()
	work := t.TempDir()

	bin := filepath.Join(work, "cdc-bench")
	build := exec.Command("go", "build", "-o", bin, "./cmd/cdc-bench")
	build.Dir = k8sRepoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	topics := []string{"dbserver1.public.products", "dbserver1.public.orders", "dbserver1.public.order_items"}
	k, err := embedded.StartKafka(embedded.KafkaOptions{Partitions: 6, Topics: topics})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()

	chs := shopsim.New(shopsim.Config{Seed: 1, Products: products}).Generate(changes)
	recs, err := shopsim.Encode(chs, dbzenc.EncodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	chs = nil
	if err := measureProduce(ctx, k.Brokers(), recs); err != nil {
		t.Fatal(err)
	}
	t.Logf("produced %d changes (%d records), %d initial products", changes, len(recs), products)
	recs = nil

	stateDir := filepath.Join(work, "state")
	group := service + "-group"
	var inputs []string
	switch service {
	case "inventory-service":
		inputs = []string{topics[0], topics[2]}
	case "analytics-service":
		inputs = []string{topics[1], topics[2]}
	default:
		inputs = []string{topics[0]}
	}

	run := func(label string) (ready time.Duration, stop func()) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		logf, err := os.Create(filepath.Join(work, label+".log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "-serve", service, "-no-sinks")
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.Env = append(os.Environ(),
			"KAFKA_BOOTSTRAP_SERVERS="+strings.Join(k.Brokers(), ","),
			"KAFKA_TOPICS="+strings.Join(inputs, ","),
			"HTTP_ADDR="+addr, "STATE_DIR="+stateDir,
			"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=x")
		start := time.Now()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		for {
			resp, err := http.Get("http://" + addr + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					ready = time.Since(start)
					break
				}
			}
			select {
			case <-done:
				t.Fatalf("%s: the service exited; log %s", label, logf.Name())
			case <-time.After(20 * time.Millisecond):
			}
			if time.Since(start) > 20*time.Minute {
				t.Fatalf("%s: not ready after 20 minutes", label)
			}
		}
		return ready, func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(45 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
			logf.Close()
		}
	}

	first, stop := run("first")
	caught := measureWaitCaughtUp(t, k.Brokers(), group, append(inputs, group+"-loop")...)
	tableRecs := measureTopicRecords(t, k.Brokers(), group+"-table")
	t.Logf("first start: ready after %v, all input consumed after %v; table changelog %d records", first.Round(time.Millisecond), caught.Round(time.Millisecond), tableRecs)
	stop()
	du := func() string {
		out, _ := exec.Command("du", "-sh", stateDir).CombinedOutput()
		return strings.TrimSpace(string(out))
	}
	t.Logf("STATE_DIR after the first run: %s", du())

	kept, stop := run("kept")
	stop()
	t.Logf("restart with STATE_DIR kept:  ready after %v", kept.Round(time.Millisecond))

	if err := os.RemoveAll(stateDir); err != nil {
		t.Fatal(err)
	}
	wiped, stop := run("wiped")
	stop()
	t.Logf("restart with STATE_DIR wiped: ready after %v", wiped.Round(time.Millisecond))
	fmt.Printf("RESULT service=%s products=%d changes=%d table_records=%d kept=%v wiped=%v\n",
		service, products, changes, tableRecs, kept.Round(time.Millisecond), wiped.Round(time.Millisecond))
}

func measureProduce(ctx context.Context, brokers []string, recs []shopsim.Record) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedRecords(100000))
	if err != nil {
		return err
	}
	defer cl.Close()
	for i := 0; i < len(recs); i += 10000 {
		var krs []*kgo.Record
		for _, r := range recs[i:min(i+10000, len(recs))] {
			krs = append(krs, &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value})
		}
		if err := cl.ProduceSync(ctx, krs...).FirstErr(); err != nil {
			return err
		}
	}
	return nil
}

func measureClient(t *testing.T, brokers []string) (sarama.Client, sarama.ClusterAdmin) {
	cfg := sarama.NewConfig()
	cfg.Version = embedded.SaramaVersion()
	cl, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	adm, err := sarama.NewClusterAdminFromClient(cl)
	if err != nil {
		t.Fatal(err)
	}
	return cl, adm
}

// measureWaitCaughtUp waits until group has committed every record of
// topics and returns how long that took.
func measureWaitCaughtUp(t *testing.T, brokers []string, group string, topics ...string) time.Duration {
	cl, adm := measureClient(t, brokers)
	defer adm.Close()
	start := time.Now()
	for time.Since(start) < 20*time.Minute {
		behind, err := func() (int64, error) {
			if err := cl.RefreshMetadata(topics...); err != nil {
				return 0, err
			}
			parts := map[string][]int32{}
			for _, tp := range topics {
				ps, err := cl.Partitions(tp)
				if err != nil {
					return 0, err
				}
				parts[tp] = ps
			}
			resp, err := adm.ListConsumerGroupOffsets(group, parts)
			if err != nil {
				return 0, err
			}
			var behind int64
			for tp, ps := range parts {
				for _, p := range ps {
					hwm, err := cl.GetOffset(tp, p, sarama.OffsetNewest)
					if err != nil {
						return 0, err
					}
					var c int64
					if b := resp.GetBlock(tp, p); b != nil && b.Offset > 0 {
						c = b.Offset
					}
					behind += max(0, hwm-c)
				}
			}
			return behind, nil
		}()
		if err == nil && behind == 0 {
			return time.Since(start)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("group %s did not catch up", group)
	return 0
}

// measureTopicRecords is the number of records in topic (all partitions).
func measureTopicRecords(t *testing.T, brokers []string, topic string) int64 {
	cl, adm := measureClient(t, brokers)
	defer adm.Close()
	ps, err := cl.Partitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, p := range ps {
		hi, err := cl.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			t.Fatal(err)
		}
		lo, err := cl.GetOffset(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		n += hi - lo
	}
	return n
}
