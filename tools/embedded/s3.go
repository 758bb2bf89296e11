package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3afero"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// s3ShutdownTimeout bounds the graceful shutdown of the S3 HTTP server.
const s3ShutdownTimeout = 5 * time.Second

// S3Options configures StartS3. The zero value is an in-memory S3 endpoint
// on a free port.
type S3Options struct {
	// Port is the TCP port to listen on at 127.0.0.1; 0 picks a free port.
	Port int
	// Dir, when set, keeps buckets and objects as plain files under this
	// directory (objects in Dir/buckets/<bucket>/<key>, metadata in
	// Dir/metadata), so they survive a restart and can be read with any
	// tool. Empty keeps everything in memory.
	Dir string
	// Logger receives the server's log lines; nil discards them.
	Logger *slog.Logger
}

// S3 is a running in-process S3 endpoint (gofakes3) served over HTTP.
// Stop and Restart take it off the network and back, on the same port and
// with the same objects, for outage tests.
type S3 struct {
	backend  gofakes3.Backend
	handler  http.Handler
	addr     string // 127.0.0.1:<port>, fixed for the endpoint's life
	endpoint string
	logger   *slog.Logger

	mu      sync.Mutex // guards the fields below; serialises Stop, Restart and Close
	server  *http.Server
	served  chan struct{} // closed when server's Serve has returned
	stopped bool          // by Stop, until Restart
	closed  bool
}

// StartS3 starts an S3-compatible HTTP endpoint on 127.0.0.1 backed by
// memory or, with opts.Dir, by a local directory. Clients must use
// path-style addressing (see NewS3Client).
func StartS3(opts S3Options) (*S3, error) {
	if opts.Port < 0 || opts.Port > 65535 {
		return nil, fmt.Errorf("embedded s3: invalid port %d", opts.Port)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}

	var backend gofakes3.Backend
	if opts.Dir == "" {
		backend = s3mem.New()
	} else {
		fs, err := s3afero.FsPath(opts.Dir, s3afero.FsPathCreateAll)
		if err != nil {
			return nil, fmt.Errorf("embedded s3: data directory %q: %w", opts.Dir, err)
		}
		multi, err := s3afero.MultiBucket(fs)
		if err != nil {
			return nil, fmt.Errorf("embedded s3: directory backend in %q: %w", opts.Dir, err)
		}
		backend = multi
	}

	faker := gofakes3.New(backend,
		gofakes3.WithLogger(gofakes3Slog{logger}),
		gofakes3.WithoutVersioning(),
	)

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("embedded s3: listen on %s: %w", addr, err)
	}
	s := &S3{
		backend:  backend,
		handler:  faker.Server(),
		addr:     ln.Addr().String(),
		endpoint: "http://" + ln.Addr().String(),
		logger:   logger,
	}
	s.serve(ln)
	logger.Info("embedded s3 started", "endpoint", s.endpoint, "dir", opts.Dir)
	return s, nil
}

// serve serves s's handler on ln with a new HTTP server; s.mu is held or s
// is not shared yet.
func (s *S3) serve(ln net.Listener) {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
	served := make(chan struct{})
	s.server, s.served = srv, served
	go func() {
		defer close(served)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("embedded s3 server stopped", "endpoint", s.endpoint, "err", err)
		}
	}()
}

// Stop takes the endpoint off the network abruptly, as an outage would: it
// closes the listener and every open connection at once, so requests in
// flight fail and new ones are refused. Buckets and objects are kept for
// Restart. Stopping a stopped endpoint does nothing.
func (s *S3) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("embedded s3: stop: closed")
	}
	if s.stopped {
		return nil
	}
	err := s.server.Close()
	<-s.served
	s.stopped = true
	s.logger.Info("embedded s3 stopped (outage)", "endpoint", s.endpoint)
	if err != nil {
		return fmt.Errorf("embedded s3: stop %s: %w", s.endpoint, err)
	}
	return nil
}

// Restart serves the endpoint again after Stop, on the same port and with
// the same buckets and objects. It retries the listen for a few seconds
// should the port still be held, and fails if another process took it.
// Restarting a running endpoint does nothing.
func (s *S3) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("embedded s3: restart: closed")
	}
	if !s.stopped {
		return nil
	}
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; {
		if ln, err = net.Listen("tcp", s.addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("embedded s3: restart: listen on %s: %w", s.addr, err)
	}
	s.serve(ln)
	s.stopped = false
	s.logger.Info("embedded s3 restarted", "endpoint", s.endpoint)
	return nil
}

// Endpoint returns the base URL of the endpoint, http://127.0.0.1:<port>.
func (s *S3) Endpoint() string { return s.endpoint }

// CreateBucket creates a bucket. It is idempotent: a bucket that already
// exists (for instance kept in S3Options.Dir from a previous run) is not an
// error.
func (s *S3) CreateBucket(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("embedded s3: create bucket %q: %w", name, err)
	}
	if err := gofakes3.ValidateBucketName(name); err != nil {
		return fmt.Errorf("embedded s3: create bucket %q: %w", name, err)
	}
	exists, err := s.backend.BucketExists(name)
	if err != nil {
		return fmt.Errorf("embedded s3: create bucket %q: check existence: %w", name, err)
	}
	if exists {
		return nil
	}
	if err := s.backend.CreateBucket(name); err != nil {
		if gofakes3.HasErrorCode(err, gofakes3.ErrBucketAlreadyExists) {
			return nil
		}
		return fmt.Errorf("embedded s3: create bucket %q: %w", name, err)
	}
	s.logger.Debug("embedded s3 bucket created", "bucket", name)
	return nil
}

// Close stops the HTTP server for good, letting in-flight requests finish
// for a few seconds. It is safe to call more than once, and after Stop.
func (s *S3) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	if s.stopped {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s3ShutdownTimeout)
	defer cancel()
	if err := s.server.Shutdown(ctx); err != nil {
		s.logger.Warn("embedded s3 shutdown", "endpoint", s.endpoint, "err", err)
		_ = s.server.Close()
	}
	<-s.served
	s.logger.Info("embedded s3 stopped", "endpoint", s.endpoint)
}

// NewS3Client returns an aws-sdk-go-v2 S3 client for an S3-compatible
// endpoint such as StartS3's: static dummy credentials, the given region and
// path-style addressing. It reads no environment or shared config files, so
// it cannot pick up real AWS credentials.
func NewS3Client(ctx context.Context, endpoint, region string) (*s3.Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("s3 client for %s: %w", endpoint, err)
	}
	if endpoint == "" {
		return nil, errors.New("s3 client: empty endpoint")
	}
	if region == "" {
		return nil, fmt.Errorf("s3 client for %s: empty region", endpoint)
	}
	cfg := aws.Config{
		Region:      region,
		Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider("test", "test", "")),
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true
	}), nil
}

// gofakes3Slog adapts gofakes3's logger to slog.
type gofakes3Slog struct{ l *slog.Logger }

// Print implements gofakes3.Logger.
func (a gofakes3Slog) Print(level gofakes3.LogLevel, v ...any) {
	var lvl slog.Level
	switch level {
	case gofakes3.LogErr:
		lvl = slog.LevelError
	case gofakes3.LogWarn:
		lvl = slog.LevelWarn
	case gofakes3.LogInfo:
		lvl = slog.LevelDebug
	default:
		lvl = slog.LevelDebug - 4
	}
	ctx := context.Background()
	if !a.l.Enabled(ctx, lvl) {
		return
	}
	a.l.Log(ctx, lvl, fmt.Sprint(v...), "component", "gofakes3")
}
