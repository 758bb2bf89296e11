// Package app wires a service from its parts and runs it. Each service's
// whole topology (its processor group, the view serving its queries, the
// sink groups and loops) is laid out in one function: Inventory in
// inventory.go, Analytics in analytics.go, Search in search.go; parts.go
// builds the parts they name, and Serve runs units until a signal, shutting
// down in stages within 30 s.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdcflow/cdcflow/internal/kafka"
	"github.com/cdcflow/cdcflow/views/httpapi"
)

// ShutdownTimeout bounds a graceful stop.
const ShutdownTimeout = 30 * time.Second

// Deps are the clients a service is built with.
type Deps struct {
	Kafka    *kafka.Settings
	Registry *prometheus.Registry
	Log      *slog.Logger
	Dynamo   *dynamodb.Client // nil: no DynamoDB mirror
	S3       *s3.Client       // nil: no S3 output
}

// Part is a long-running component; it returns when ctx is cancelled.
type Part struct {
	Name string
	Run  func(ctx context.Context) error
	// Stage orders shutdown: parts of a lower stage are stopped first (the
	// processors before the sinks that drain their results).
	Stage int
}

// Unit is one service ready to run.
type Unit struct {
	Name  string
	Parts []Part
}

// Serve runs the units and the HTTP server on addr until ctx is cancelled,
// then stops processors first and sinks after them, within ShutdownTimeout.
// ready (optional) receives the bound address.
func Serve(ctx context.Context, log *slog.Logger, addr string, srv *httpapi.Server, units []*Unit, ready func(addr string)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("HTTP_ADDR %s: %w", addr, err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	httpErr := make(chan error, 1)
	go func() { httpErr <- hs.Serve(ln) }()
	if ready != nil {
		ready(ln.Addr().String())
	}
	log.Info("http server listening", "addr", ln.Addr().String())

	stages := map[int][]Part{}
	maxStage := 0
	for _, u := range units {
		for _, p := range u.Parts {
			stages[p.Stage] = append(stages[p.Stage], p)
			maxStage = max(maxStage, p.Stage)
		}
	}
	type running struct {
		cancel context.CancelFunc
		done   chan struct{}
	}
	var (
		mu       sync.Mutex
		firstErr error
	)
	failed := make(chan struct{})
	var failOnce sync.Once
	runStage := make([]running, maxStage+1)
	for s := 0; s <= maxStage; s++ {
		sctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		var wg sync.WaitGroup
		for _, p := range stages[s] {
			wg.Add(1)
			go func(p Part) {
				defer wg.Done()
				if err := p.Run(sctx); err != nil && !errors.Is(err, context.Canceled) {
					log.Error("component stopped with an error", "component", p.Name, "error", err)
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("%s: %w", p.Name, err)
					}
					mu.Unlock()
					failOnce.Do(func() { close(failed) })
				}
			}(p)
		}
		go func() { wg.Wait(); close(done) }()
		runStage[s] = running{cancel, done}
	}

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case <-failed:
		log.Error("shutting down after a component failed")
	case err := <-httpErr:
		mu.Lock()
		firstErr = fmt.Errorf("http server: %w", err)
		mu.Unlock()
	}
	deadline := time.After(ShutdownTimeout)
	for s := 0; s <= maxStage; s++ {
		runStage[s].cancel()
		select {
		case <-runStage[s].done:
		case <-deadline:
			log.Error("shutdown timed out", "stage", s)
			mu.Lock()
			defer mu.Unlock()
			return errors.Join(firstErr, errors.New("shutdown timed out"))
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx)
	mu.Lock()
	defer mu.Unlock()
	return firstErr
}

// Stages of shutdown.
const (
	StageProcess = 0 // processors: stop consuming first
	StageSink    = 1 // sinks: drain and flush after the processors stopped
	StageView    = 2 // views: last, the sinks' final flushes read them
)

// WaitForTopics blocks until the topics exist (Debezium creates them with
// its first change), logging while it waits.
func WaitForTopics(ctx context.Context, log *slog.Logger, s *kafka.Settings, topics []string) error {
	backoff := 500 * time.Millisecond
	for {
		missing, err := missingTopics(s, topics)
		if err == nil && len(missing) == 0 {
			return nil
		}
		log.Warn("waiting for input topics", "missing", missing, "error", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

func missingTopics(s *kafka.Settings, topics []string) ([]string, error) {
	client, err := sarama.NewClient(s.Brokers, s.Sarama)
	if err != nil {
		return topics, fmt.Errorf("connect to kafka: %w", err)
	}
	defer client.Close()
	have, err := client.Topics()
	if err != nil {
		return topics, fmt.Errorf("list topics: %w", err)
	}
	set := map[string]bool{}
	for _, t := range have {
		set[t] = true
	}
	var missing []string
	for _, t := range topics {
		if !set[t] {
			missing = append(missing, t)
		}
	}
	return missing, nil
}
