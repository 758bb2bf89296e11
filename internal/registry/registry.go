// Package registry is the services' Confluent Schema Registry client: it
// finds the schema of a Confluent-framed record (io.confluent.connect.avro.
// AvroConverter: magic byte 0, the schema id, the Avro payload) by its id.
//
// It speaks the registry's REST protocol through franz-go's pkg/sr
// (GET /schemas/ids/{id}; several URLs are tried in order on connection
// errors), with basic auth, a CA file and a per-request timeout. Each id is
// fetched once and its parsed schema cached for the life of the process
// (a registry never changes what an id means); lookups of one id that
// overlap share one request.
//
// Errors are of two kinds (Error.Permanent). Permanent: the registry says
// the id does not exist (404 with error_code 40403, confirmed by one more
// request after NotFoundDelay), or its schema cannot be used (not Avro, or
// with Options.ParseTyped not Avro or JSON Schema; references; does not
// parse); the record can never be read and belongs in
// the dead-letter topic. Transient: everything else (no answer, a timeout,
// 5xx, 429, 401/403, a 404 that is not the registry's, the circuit breaker
// open); the record must wait. A circuit breaker (sinks/breaker) stops
// requests while the registry keeps failing and lets one probe through
// after BreakerCooldown. Health reports the registry degraded meanwhile.
package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/cdcflow/cdcflow/sinks/breaker"
	"github.com/cdcflow/cdcflow/sinks/retry"
)

// Options configures New.
type Options[S any] struct {
	// URLs are the registry's base URLs (SCHEMA_REGISTRY_URL); at least one.
	URLs []string
	// Username and Password, when Username is set, are sent as basic auth.
	Username, Password string
	// CAFile is a PEM file of the CAs to trust for https URLs; empty: the
	// system's roots.
	CAFile string
	// Timeout bounds one HTTP request; default 10 s.
	Timeout time.Duration
	// Parse turns a schema's text into what the client caches and returns
	// (debezium.ParseAvroSchema); its error makes the id permanently
	// unusable. Required.
	Parse func(text string) (S, error)
	// ParseTyped, when set, replaces Parse and opens the client to JSON
	// Schema: it receives the schema's type as the registry names it
	// ("AVRO", "JSON" or "PROTOBUF") and its text
	// (debezium.ParseRegistrySchema). Its error is a permanent error.
	ParseTyped func(schemaType, text string) (S, error)

	// Service labels the metrics and names the client in its User-Agent.
	Service string
	// Registerer receives the metrics; nil: counted, not registered.
	Registerer prometheus.Registerer
	// Log receives breaker changes and failures; nil: discarded.
	Log *slog.Logger

	// BreakerThreshold is the number of consecutive failed requests that
	// opens the breaker; default 3.
	BreakerThreshold int
	// BreakerCooldown is how long the open breaker rejects lookups before
	// it lets one probe through; default 5 s.
	BreakerCooldown time.Duration
	// NotFoundDelay is the pause before a 40403 is confirmed by asking
	// again (a registry follower may not have caught up with a schema
	// registered a moment ago); default 500 ms, negative: not confirmed.
	NotFoundDelay time.Duration
	// NotFoundTTL is how long a confirmed unknown id is answered from the
	// cache without asking again; default 1 min.
	NotFoundTTL time.Duration
	// HTTPClient replaces the client built from Timeout and CAFile (tests).
	HTTPClient *http.Client
}

// Error classes, the class label of schema_registry_errors_total.
const (
	ClassNotFound      = "not_found"      // 404 with error_code 40403: permanent
	ClassInvalidSchema = "invalid_schema" // not Avro, references, or it does not parse: permanent
	ClassServer        = "server"         // 5xx
	ClassThrottle      = "throttle"       // 429
	ClassAuth          = "auth"           // 401, 403
	ClassClient        = "client"         // other 4xx, a 404 without error_code 40403, an unreadable answer
	ClassConnection    = "connection"     // refused, reset, no route
	ClassTimeout       = "timeout"        // the request timed out
	ClassBreakerOpen   = "breaker_open"   // not sent: the circuit breaker is open
)

var classes = []string{ClassNotFound, ClassInvalidSchema, ClassServer, ClassThrottle, ClassAuth, ClassClient, ClassConnection, ClassTimeout, ClassBreakerOpen}

// Error is a failed lookup of a schema id.
type Error struct {
	ID    int32
	Class string // one of the Class constants
	Err   error
}

func (e *Error) Error() string {
	switch e.Class {
	case ClassNotFound:
		return fmt.Sprintf("schema id %d not found in the registry", e.ID)
	case ClassInvalidSchema:
		return fmt.Sprintf("schema id %d: %v", e.ID, e.Err)
	case ClassBreakerOpen:
		return fmt.Sprintf("schema id %d: schema registry circuit breaker open (registry failing)", e.ID)
	}
	return fmt.Sprintf("schema id %d: schema registry %s error: %v", e.ID, e.Class, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Permanent reports whether the id can never be resolved (not found, or an
// unusable schema): the record belongs in the dead-letter topic. Every other
// failure is transient and the record must wait.
func (e *Error) Permanent() bool { return e.Class == ClassNotFound || e.Class == ClassInvalidSchema }

// IsPermanent reports whether err is (or wraps) a permanent lookup error.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent()
}

// Client looks schemas up by id; it is safe for concurrent use.
type Client[S any] struct {
	opts Options[S]
	sr   *sr.Client
	br   *breaker.Breaker
	m    *metrics
	log  *slog.Logger
	now  func() time.Time

	mu       sync.RWMutex
	cache    map[int32]S
	bad      map[int32]*Error    // ids with an unusable schema, for good
	missing  map[int32]time.Time // ids confirmed unknown, until when
	inflight map[int32]*call[S]
	failing  time.Time // first failure since the last answer; zero when fine
	lastErr  error
}

// call is one request for an id that every lookup of it shares.
type call[S any] struct {
	done   chan struct{}
	schema S
	err    error
}

// New returns a client; it reads CAFile and fails naming
// SCHEMA_REGISTRY_CA_FILE when the file holds no certificate.
func New[S any](opts Options[S]) (*Client[S], error) {
	if len(opts.URLs) == 0 {
		return nil, errors.New("schema registry: no URL")
	}
	if opts.Parse == nil && opts.ParseTyped == nil {
		return nil, errors.New("schema registry: no Parse function")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.BreakerThreshold <= 0 {
		opts.BreakerThreshold = 3
	}
	if opts.BreakerCooldown <= 0 {
		opts.BreakerCooldown = 5 * time.Second
	}
	if opts.NotFoundDelay == 0 {
		opts.NotFoundDelay = 500 * time.Millisecond
	}
	if opts.NotFoundTTL <= 0 {
		opts.NotFoundTTL = time.Minute
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	hc := opts.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 16
		if opts.CAFile != "" {
			pem, err := os.ReadFile(opts.CAFile)
			if err != nil {
				return nil, fmt.Errorf("SCHEMA_REGISTRY_CA_FILE: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("SCHEMA_REGISTRY_CA_FILE: no certificate in %s", opts.CAFile)
			}
			tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		}
		hc = &http.Client{Timeout: opts.Timeout, Transport: tr}
	}
	m, err := newMetrics(opts.Service, opts.Registerer)
	if err != nil {
		return nil, err
	}
	srOpts := []sr.ClientOpt{sr.URLs(append([]string(nil), opts.URLs...)...), sr.HTTPClient(hc), sr.UserAgent("cdcflow/" + opts.Service)}
	if opts.Username != "" {
		srOpts = append(srOpts, sr.BasicAuth(opts.Username, opts.Password))
	}
	cl, err := sr.NewClient(srOpts...)
	if err != nil {
		return nil, fmt.Errorf("schema registry: %w", err)
	}
	c := &Client[S]{opts: opts, sr: cl, m: m, log: log, now: time.Now,
		cache: map[int32]S{}, bad: map[int32]*Error{}, missing: map[int32]time.Time{}, inflight: map[int32]*call[S]{}}
	c.br = breaker.New(breaker.Options{Threshold: opts.BreakerThreshold, Cooldown: opts.BreakerCooldown,
		OnChange: breaker.Report("schema registry", m.breaker, log, opts.BreakerCooldown)})
	return c, nil
}

// Breaker is the client's circuit breaker (tests step its clock).
func (c *Client[S]) Breaker() *breaker.Breaker { return c.br }

// Cached is the number of schemas in the cache.
func (c *Client[S]) Cached() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.cache)
}

// Schema returns the parsed schema of id: from the cache, or from the
// registry once (overlapping lookups of an id share one request). Its
// errors are *Error (Permanent or transient), or ctx's error when ctx ends
// first.
func (c *Client[S]) Schema(ctx context.Context, id int32) (S, error) {
	c.mu.RLock()
	s, ok := c.cache[id]
	c.mu.RUnlock()
	if ok {
		c.m.lookups.WithLabelValues("cache").Inc()
		return s, nil
	}
	var zero S
	c.mu.Lock()
	if s, ok := c.cache[id]; ok {
		c.mu.Unlock()
		c.m.lookups.WithLabelValues("cache").Inc()
		return s, nil
	}
	if e := c.bad[id]; e != nil {
		c.mu.Unlock()
		c.m.lookups.WithLabelValues("cache").Inc()
		return zero, e
	}
	if until, ok := c.missing[id]; ok {
		if c.now().Before(until) {
			c.mu.Unlock()
			c.m.lookups.WithLabelValues("cache").Inc()
			return zero, &Error{ID: id, Class: ClassNotFound}
		}
		delete(c.missing, id)
	}
	cl, shared := c.inflight[id]
	if !shared {
		cl = &call[S]{done: make(chan struct{})}
		c.inflight[id] = cl
		go c.resolve(id, cl)
		c.m.lookups.WithLabelValues("registry").Inc()
	} else {
		c.m.lookups.WithLabelValues("shared").Inc()
	}
	c.mu.Unlock()
	select {
	case <-cl.done:
		return cl.schema, cl.err
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// resolve fetches id for every lookup waiting on cl; it runs on its own,
// bounded by the request timeout, so that one waiter giving up does not
// fail the others.
func (c *Client[S]) resolve(id int32, cl *call[S]) {
	s, err := c.fetch(id)
	c.mu.Lock()
	delete(c.inflight, id)
	var e *Error
	switch {
	case err == nil:
		c.cache[id] = s
		c.m.cached.Set(float64(len(c.cache)))
	case errors.As(err, &e) && e.Class == ClassInvalidSchema:
		c.bad[id] = e
	case errors.As(err, &e) && e.Class == ClassNotFound:
		c.missing[id] = c.now().Add(c.opts.NotFoundTTL)
	}
	cl.schema, cl.err = s, err
	c.mu.Unlock()
	close(cl.done)
}

// fetch asks the registry for id (twice when the first answer is 40403).
func (c *Client[S]) fetch(id int32) (S, error) {
	var zero S
	schema, err := c.get(id)
	var e *Error
	if errors.As(err, &e) && e.Class == ClassNotFound && c.opts.NotFoundDelay > 0 {
		time.Sleep(c.opts.NotFoundDelay)
		schema, err = c.get(id)
	}
	if err != nil {
		return zero, err
	}
	typed := c.opts.ParseTyped != nil
	switch {
	case schema.Type == sr.TypeAvro:
	case typed && schema.Type == sr.TypeJSON:
	case typed && schema.Type == sr.TypeProtobuf:
	case typed:
		return zero, &Error{ID: id, Class: ClassInvalidSchema, Err: fmt.Errorf("a %s schema, not Avro, JSON or Protobuf", schema.Type)}
	default:
		return zero, &Error{ID: id, Class: ClassInvalidSchema, Err: fmt.Errorf("a %s schema, not Avro", schema.Type)}
	}
	if len(schema.References) > 0 {
		kind := "an Avro"
		if schema.Type == sr.TypeJSON {
			kind = "a JSON"
		}
		if schema.Type == sr.TypeProtobuf {
			kind = "a Protobuf"
		}
		return zero, &Error{ID: id, Class: ClassInvalidSchema, Err: fmt.Errorf("%s schema with %d references, which are not supported", kind, len(schema.References))}
	}
	var s S
	var perr error
	if typed {
		s, perr = c.opts.ParseTyped(schema.Type.String(), schema.Schema)
	} else {
		s, perr = c.opts.Parse(schema.Schema)
	}
	if perr != nil {
		c.m.errors.WithLabelValues(ClassInvalidSchema).Inc()
		return zero, &Error{ID: id, Class: ClassInvalidSchema, Err: fmt.Errorf("cannot read the registry's schema: %w", perr)}
	}
	return s, nil
}

// get sends one GET /schemas/ids/{id} through the breaker.
func (c *Client[S]) get(id int32) (sr.Schema, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout*time.Duration(len(c.opts.URLs))+time.Second)
	defer cancel()
	t, err := c.br.Allow(ctx)
	if err != nil {
		c.m.errors.WithLabelValues(ClassBreakerOpen).Inc()
		return sr.Schema{}, &Error{ID: id, Class: ClassBreakerOpen, Err: err}
	}
	start := time.Now()
	schema, err := c.sr.SchemaByID(ctx, int(id))
	c.m.requests.Inc()
	c.m.latency.Observe(time.Since(start).Seconds())
	if err == nil {
		c.br.Record(t, breaker.Success)
		c.answered()
		return schema, nil
	}
	class := classify(err)
	c.m.errors.WithLabelValues(class).Inc()
	e := &Error{ID: id, Class: class, Err: err}
	if answered(err) {
		c.br.Record(t, breaker.Success)
	} else {
		c.br.Record(t, breaker.Failure)
	}
	if class == ClassNotFound {
		c.answered()
		return sr.Schema{}, e
	}
	c.m.allErrors.Inc()
	c.mu.Lock()
	if c.failing.IsZero() {
		c.failing = c.now()
	}
	c.lastErr = e
	c.mu.Unlock()
	c.log.Warn("schema registry lookup failed; the record waits", "id", id, "class", class, "error", err)
	return sr.Schema{}, e
}

// answered clears the failure state: the registry answered as it should.
func (c *Client[S]) answered() {
	c.mu.Lock()
	if !c.failing.IsZero() {
		c.log.Info("schema registry answering again", "failing_for", c.now().Sub(c.failing).Round(time.Millisecond))
	}
	c.failing, c.lastErr = time.Time{}, nil
	c.mu.Unlock()
}

// answered reports whether the registry itself answered (below 500, other
// than 429): the endpoint is up, whatever it thought of the request.
func answered(err error) bool {
	var re *sr.ResponseError
	return errors.As(err, &re) && re.StatusCode < 500 && re.StatusCode != http.StatusTooManyRequests
}

// classify tells the class of a failed request.
func classify(err error) string {
	var re *sr.ResponseError
	if errors.As(err, &re) {
		switch {
		case re.StatusCode == http.StatusNotFound && re.ErrorCode == sr.ErrSchemaNotFound.Code:
			return ClassNotFound
		case re.StatusCode == http.StatusTooManyRequests:
			return ClassThrottle
		case re.StatusCode >= 500:
			return ClassServer
		case re.StatusCode == http.StatusUnauthorized || re.StatusCode == http.StatusForbidden:
			return ClassAuth
		}
		return ClassClient
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return ClassTimeout
	}
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) {
		return ClassConnection
	}
	return ClassClient
}

// Health reports whether the registry answers (for httpapi.Server.Degraded):
// false while lookups fail or the circuit breaker is not closed.
func (c *Client[S]) Health() (bool, string) {
	st := c.br.State()
	c.mu.RLock()
	failing, lastErr, n := c.failing, c.lastErr, len(c.cache)
	c.mu.RUnlock()
	if lastErr != nil {
		return false, fmt.Sprintf("schema registry failing since %s (circuit breaker %s; records wait): %v",
			failing.UTC().Format(time.RFC3339), st, lastErr)
	}
	if st != breaker.Closed {
		return false, "schema registry circuit breaker " + st.String()
	}
	return true, fmt.Sprintf("ok (%d schemas cached)", n)
}

// Backoff is the wait before the n-th retry of a transiently failed lookup:
// full jitter between 50 ms and 5 s.
func Backoff(n int) time.Duration { return retry.FullJitter(n, 50*time.Millisecond, 5*time.Second) }
