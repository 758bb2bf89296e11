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
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdcflow/cdcflow/internal/kafka"
	"github.com/cdcflow/cdcflow/sinks/dynamo"
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
	// Startup reports what the starting service waits for (Kafka, its
	// topics, a DynamoDB table) in /readyz; nil reports nothing.
	Startup *Startup
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
	h, err := Listen(log, addr, srv)
	if err != nil {
		return err
	}
	if ready != nil {
		ready(h.Addr())
	}
	return h.Run(ctx, log, units)
}

// HTTP is the service's HTTP server, serving from the moment it is bound.
type HTTP struct {
	ln      net.Listener
	hs      *http.Server
	httpErr chan error
}

// Listen binds addr (HTTP_ADDR) and serves srv on it at once: /healthz and
// /metrics answer from then on, /readyz says what the service waits for,
// and query routes answer once registered. An address in use fails here,
// before anything else is started.
func Listen(log *slog.Logger, addr string, srv *httpapi.Server) (*HTTP, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("HTTP_ADDR %s: %w", addr, err)
	}
	h := &HTTP{ln: ln, hs: &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}, httpErr: make(chan error, 1)}
	go func() { h.httpErr <- h.hs.Serve(ln) }()
	log.Info("http server listening", "addr", ln.Addr().String())
	return h, nil
}

// Addr is the bound address.
func (h *HTTP) Addr() string { return h.ln.Addr().String() }

// Close stops the server, letting requests in flight finish for 5 s.
func (h *HTTP) Close() {
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = h.hs.Shutdown(sctx)
}

// Run runs the units until ctx is cancelled (or one fails, or the HTTP
// server does), then stops processors first and sinks after them, within
// ShutdownTimeout, and closes the HTTP server.
func (h *HTTP) Run(ctx context.Context, log *slog.Logger, units []*Unit) error {
	hs, httpErr := h.hs, h.httpErr

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
// its first change), logging while it waits. An error that waiting will
// not cure (kafka.Permanent: wrong credentials or TLS setup) ends it.
func WaitForTopics(ctx context.Context, log *slog.Logger, s *kafka.Settings, topics []string) error {
	return waitForKafka(ctx, log, s, topics, nil)
}

// waitForKafka blocks until the brokers answer and the topics exist,
// reporting what it waits for in st (/readyz) and the log. An error that
// waiting cannot cure (kafka.Permanent: SASL credentials rejected, a TLS
// certificate that does not verify) ends the wait with that error.
func waitForKafka(ctx context.Context, log *slog.Logger, s *kafka.Settings, topics []string, st *Startup) error {
	backoff := 500 * time.Millisecond
	brokers := strings.Join(s.Brokers, ",")
	for {
		missing, err := missingTopics(s, topics)
		switch {
		case err == nil && len(missing) == 0:
			return nil
		case kafka.Permanent(err): // wrong credentials or TLS setup: waiting will not cure it
			return fmt.Errorf("kafka at %s refuses this client (check KAFKA_SASL_* and KAFKA_TLS*; not retried): %w", brokers, err)
		case err != nil:
			st.Set("waiting for Kafka", fmt.Sprintf("Kafka at %s unreachable: %v", brokers, err))
			log.Warn("waiting for Kafka", "brokers", brokers, "error", err)
		default:
			st.Set("waiting for Kafka topics", "input topics missing: "+strings.Join(missing, ", "))
			log.Warn("waiting for input topics", "missing", missing)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// Startup is the stage a starting service is in, for /readyz: not ready,
// with what it waits for, until Done.
type Startup struct {
	mu            sync.Mutex
	stage, detail string
	done          bool
}

// Set records the stage and what it waits for. A nil Startup ignores it.
func (s *Startup) Set(stage, detail string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stage, s.detail = stage, detail
}

// Done marks the start as complete: the units run.
func (s *Startup) Done() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done, s.stage, s.detail = true, "running", ""
}

// Stage is the current stage.
func (s *Startup) Stage() string {
	if s == nil {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stage
}

// Check is the readiness check of the start.
func (s *Startup) Check() (bool, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return true, "started"
	}
	if s.detail == "" {
		return false, s.stage
	}
	return false, s.stage + ": " + s.detail
}

// ensureTable creates the DynamoDB table of a mirror when missing. While
// DynamoDB fails (unreachable, throttled, refusing the credentials), it
// retries with backoff, reported in /readyz and the log, until ctx ends;
// an error that a retry cannot cure (an existing table with another key
// schema) ends it.
func (w *wiring) ensureTable(ctx context.Context, spec dynamo.TableSpec) error {
	backoff := time.Second
	for {
		w.d.Startup.Set("creating DynamoDB table", spec.Name)
		err := dynamo.EnsureTable(ctx, w.d.Dynamo, spec)
		var op *smithy.OperationError
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case !errors.As(err, &op) && !errors.Is(err, context.DeadlineExceeded):
			return fmt.Errorf("DYNAMODB_TABLE %s: %w", spec.Name, err)
		}
		w.d.Startup.Set("waiting for DynamoDB", fmt.Sprintf("table %s: %v", spec.Name, err))
		w.d.Log.Warn("waiting for DynamoDB", "table", spec.Name, "error", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
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
