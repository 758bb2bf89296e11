// Package dynalite runs a DynamoDB-compatible API server for tests: the npm
// package dynalite (pinned in package.json and package-lock.json beside this
// file), in memory or (Options.Path) in a LevelDB directory, on a free
// loopback port.
//
// Start installs the npm package on first use (`npm ci`, guarded by a lock
// file so that parallel test binaries install it once), starts
// `node node_modules/dynalite/cli.js` in a process group of its own and waits
// until it answers ListTables. Stop kills the whole group, so no node process
// outlives the test. For chaos tests, Pause and Resume stop and continue the
// server (SIGSTOP/SIGCONT), and Kill and Restart end it abruptly and start it
// again on the same port (keeping the tables with Options.Path).
//
// Only node and npm are needed: a fresh CI machine with Go and Node runs it.
package dynalite

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// Region is the AWS region that Client configures; dynalite ignores it.
const Region = "us-east-1"

// pkgRel is this package's directory relative to the module root.
const pkgRel = "tools/dynalite"

// Options configures Start. The zero value is ready to use.
type Options struct {
	// Dir is the directory holding package.json and package-lock.json.
	// Default: this package's source directory, found from the caller's
	// source location or by walking up from the working directory.
	Dir string
	// TableDelay is how long tables stay CREATING, DELETING and UPDATING.
	// Default 0: a table turns ACTIVE right after CreateTable returns
	// (dynalite's own default is 500ms).
	TableDelay time.Duration
	// StartTimeout bounds the wait for the server to answer, not counting the
	// npm install. Default 30s.
	StartTimeout time.Duration
	// InstallTimeout bounds `npm ci` when node_modules is missing. Default 5m.
	InstallTimeout time.Duration
	// Path, when set, keeps the tables in a LevelDB store in this directory
	// (dynalite --path; created when missing), so that they survive Kill and
	// Restart. Default: in memory, lost when the process ends.
	Path string
	// Output, when set, also receives the server's stdout and stderr.
	Output io.Writer
	// Logger receives progress (install, start, stop). Default slog.Default().
	Logger *slog.Logger
}

// Server is a running dynalite server: one node process at a time, on one
// port for its whole life.
type Server struct {
	endpoint string
	port     int
	node     string
	dir      string
	opts     Options
	out      *tailBuffer
	log      *slog.Logger

	stopOnce sync.Once
	stopErr  error

	mu      sync.Mutex // guards p and stopped, and serialises Kill, Restart and Stop
	p       *proc
	stopped bool
}

// proc is one node process of a Server.
type proc struct {
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	waitErr error         // set before done is closed
	killed  bool          // ended by kill (guarded by the Server's mu)
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// current returns the current process.
func (s *Server) current() *proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.p
}

// Start installs dynalite if needed, starts it on a free loopback port and
// returns once it answers requests. ctx bounds the start only: the server
// runs until Stop.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 30 * time.Second
	}
	if opts.InstallTimeout <= 0 {
		opts.InstallTimeout = 5 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if !supported {
		return nil, errors.New("dynalite: process control is not supported on " + runtime.GOOS)
	}
	dir := opts.Dir
	if dir == "" {
		d, err := FindDir()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("dynalite: node is not on PATH: %w", err)
	}
	if err := ensureInstalled(ctx, dir, opts); err != nil {
		return nil, err
	}
	if opts.Path != "" {
		if err := os.MkdirAll(opts.Path, 0o755); err != nil {
			return nil, fmt.Errorf("dynalite: data directory: %w", err)
		}
	}

	const attempts = 5 // a free port can be taken between probing and binding
	var lastErr error
	for i := 0; i < attempts; i++ {
		s, err := start(ctx, node, dir, opts)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if !errors.Is(err, errPortInUse) {
			break
		}
	}
	return nil, lastErr
}

var errPortInUse = errors.New("port in use")

func start(ctx context.Context, node, dir string, opts Options) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{
		endpoint: "http://127.0.0.1:" + strconv.Itoa(port),
		port:     port,
		node:     node,
		dir:      dir,
		opts:     opts,
		out:      &tailBuffer{max: 64 << 10},
		log:      opts.Logger,
	}
	p, err := s.spawn(ctx)
	if err != nil {
		if strings.Contains(s.out.String(), "EADDRINUSE") {
			return nil, fmt.Errorf("dynalite: port %d: %w", port, errPortInUse)
		}
		return nil, err
	}
	s.p = p
	s.log.Debug("dynalite started", "endpoint", s.endpoint, "pid", p.cmd.Process.Pid, "path", opts.Path)
	return s, nil
}

// spawn starts a node process on s's port and waits until it answers; on
// failure it leaves no process behind.
func (s *Server) spawn(ctx context.Context) (*proc, error) {
	ms := strconv.FormatInt(s.opts.TableDelay.Milliseconds(), 10)
	args := []string{filepath.Join("node_modules", "dynalite", "cli.js"),
		"--host", "127.0.0.1", "--port", strconv.Itoa(s.port),
		"--createTableMs", ms, "--deleteTableMs", ms, "--updateTableMs", ms}
	if s.opts.Path != "" {
		args = append(args, "--path", s.opts.Path)
	}
	cmd := exec.Command(s.node, args...)
	cmd.Dir = s.dir
	cmd.Env = os.Environ()
	var w io.Writer = s.out
	if s.opts.Output != nil {
		w = io.MultiWriter(s.out, s.opts.Output)
	}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("dynalite: starting node in %s: %w", s.dir, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	if err := s.waitReady(ctx, p, s.opts.StartTimeout); err != nil {
		_ = p.kill()
		return nil, err
	}
	return p, nil
}

// kill sends SIGKILL to the process group and waits for node to exit.
func (p *proc) kill() error {
	if p.exited() {
		return nil
	}
	p.killed = true
	if err := killGroup(p.cmd.Process.Pid, sigKill); err != nil {
		_ = p.cmd.Process.Kill()
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("dynalite: node (pid %d) did not exit after SIGKILL", p.cmd.Process.Pid)
	}
}

// Kill ends the server's node process abruptly (SIGKILL, also when paused),
// as a crash would, and waits for it to exit. Requests are then refused
// until Restart. Without Options.Path the tables are lost; with it they are
// kept (LevelDB has written each change to its log, in the operating
// system's buffers, before answering).
func (s *Server) Kill() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return errors.New("dynalite: kill: server stopped")
	}
	if err := s.p.kill(); err != nil {
		return fmt.Errorf("dynalite: kill: %w", err)
	}
	s.log.Debug("dynalite killed", "endpoint", s.endpoint)
	return nil
}

// Restart starts the server again on the same port, after Kill or while it
// runs (it is killed first, as by Kill), and returns once it answers. With
// Options.Path the new process opens the same tables; in memory it starts
// empty. Clients made before keep working. It fails after Stop, or when
// another process took the port meanwhile.
func (s *Server) Restart(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return errors.New("dynalite: restart: server stopped")
	}
	if err := s.p.kill(); err != nil {
		return fmt.Errorf("dynalite: restart: %w", err)
	}
	p, err := s.spawn(ctx)
	if err != nil {
		return fmt.Errorf("dynalite: restart on port %d: %w", s.port, err)
	}
	s.p = p
	s.log.Debug("dynalite restarted", "endpoint", s.endpoint, "pid", p.cmd.Process.Pid, "path", s.opts.Path)
	return nil
}

// waitReady polls ListTables until the server answers, the process p exits,
// the timeout passes or ctx is done.
func (s *Server) waitReady(ctx context.Context, p *proc, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := s.newClient()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		actx, acancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := client.ListTables(actx, &dynamodb.ListTablesInput{})
		acancel()
		if err == nil {
			return nil
		}
		lastErr = err
		select {
		case <-p.done:
			return fmt.Errorf("dynalite: node exited before answering (%v); output:\n%s", p.waitErr, s.out.String())
		case <-ctx.Done():
			return fmt.Errorf("dynalite: no answer from %s: %w (last error: %v); output:\n%s",
				s.endpoint, ctx.Err(), lastErr, s.out.String())
		case <-tick.C:
		}
	}
}

// Endpoint is the server's base URL, e.g. http://127.0.0.1:40123.
func (s *Server) Endpoint() string { return s.endpoint }

// Client returns a DynamoDB client for the server: static dummy credentials,
// region us-east-1, the server as base endpoint. It uses no shared AWS
// configuration or environment, so tests are hermetic. It fails while the
// server's process has exited (after Stop, or after Kill until Restart);
// a client keeps working across Kill and Restart. ctx is accepted for
// symmetry with config loading.
func (s *Server) Client(ctx context.Context) (*dynamodb.Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("dynalite client: %w", err)
	}
	if p := s.current(); p.exited() {
		return nil, fmt.Errorf("dynalite client: server %s has exited: %v", s.endpoint, p.waitErr)
	}
	return s.newClient(), nil
}

func (s *Server) newClient() *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider("dynalite", "dynalite", ""),
		BaseEndpoint: aws.String(s.endpoint),
	})
}

// Pause stops the server's processes (SIGSTOP): connections are still
// accepted by the kernel but nothing is answered until Resume.
func (s *Server) Pause() error {
	if err := s.signalGroup(sigStop); err != nil {
		return fmt.Errorf("dynalite: pause: %w", err)
	}
	return nil
}

// Resume continues the server after Pause (SIGCONT).
func (s *Server) Resume() error {
	if err := s.signalGroup(sigCont); err != nil {
		return fmt.Errorf("dynalite: resume: %w", err)
	}
	return nil
}

func (s *Server) signalGroup(sig sysSignal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return errors.New("server stopped")
	}
	if s.p.exited() {
		return fmt.Errorf("server exited: %v", s.p.waitErr)
	}
	return killGroup(s.p.cmd.Process.Pid, sig)
}

// Stop kills the server's process group (also when paused) and waits for
// node to exit. It is safe to call more than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.stopped = true
		p := s.p
		if p.exited() {
			// Exited by itself: report why, unless it was a clean exit or
			// Kill's.
			if p.waitErr != nil && !p.killed {
				s.stopErr = fmt.Errorf("dynalite: node had exited: %w", p.waitErr)
			}
			return
		}
		s.stopErr = p.kill()
		s.log.Debug("dynalite stopped", "endpoint", s.endpoint)
	})
	return s.stopErr
}

// FindDir returns the directory holding this package's package.json: the
// source directory recorded at build time when it still exists, else the
// first `tools/dynalite` found walking up from the working directory.
func FindDir() (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok {
		d := filepath.Dir(file)
		if isPkgDir(d) {
			return d, nil
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("dynalite: working directory: %w", err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		for _, c := range []string{d, filepath.Join(d, pkgRel)} {
			if isPkgDir(c) {
				return c, nil
			}
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	return "", fmt.Errorf("dynalite: no %s/package.json above %s", pkgRel, wd)
}

func isPkgDir(d string) bool {
	b, err := os.ReadFile(filepath.Join(d, "package.json"))
	if err != nil {
		return false
	}
	var p struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	return json.Unmarshal(b, &p) == nil && p.Dependencies["dynalite"] != "" &&
		strings.HasSuffix(filepath.ToSlash(d), pkgRel)
}

// ensureInstalled runs `npm ci` in dir unless node_modules already holds the
// pinned dynalite version. An exclusive lock on dir/.install.lock keeps
// parallel test binaries from installing over each other.
func ensureInstalled(ctx context.Context, dir string, opts Options) error {
	unlock, err := lockFile(filepath.Join(dir, ".install.lock"))
	if err != nil {
		return fmt.Errorf("dynalite: install lock in %s: %w", dir, err)
	}
	defer unlock()
	want, err := pinnedVersion(dir)
	if err != nil {
		return err
	}
	if installedVersion(dir) == want {
		return nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return fmt.Errorf("dynalite: %s/node_modules is missing and npm is not on PATH: %w", dir, err)
	}
	opts.Logger.Info("installing dynalite with npm ci", "dir", dir, "version", want)
	ictx, cancel := context.WithTimeout(ctx, opts.InstallTimeout)
	defer cancel()
	cmd := exec.CommandContext(ictx, npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("dynalite: npm ci in %s: %w; output:\n%s", dir, err, out.String())
	}
	if got := installedVersion(dir); got != want {
		return fmt.Errorf("dynalite: after npm ci in %s, node_modules has dynalite %q, want %q", dir, got, want)
	}
	return nil
}

// pinnedVersion is the exact dynalite version in dir/package.json.
func pinnedVersion(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		return "", fmt.Errorf("dynalite: %w", err)
	}
	var p struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return "", fmt.Errorf("dynalite: %s/package.json: %w", dir, err)
	}
	v := p.Dependencies["dynalite"]
	if v == "" {
		return "", fmt.Errorf("dynalite: %s/package.json does not depend on dynalite", dir)
	}
	return v, nil
}

// installedVersion is the version of node_modules/dynalite, or "" when the
// install is missing or incomplete (npm writes node_modules/.package-lock.json
// last).
func installedVersion(dir string) string {
	if _, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json")); err != nil {
		return ""
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "dynalite", "cli.js")); err != nil {
		return ""
	}
	b, err := os.ReadFile(filepath.Join(dir, "node_modules", "dynalite", "package.json"))
	if err != nil {
		return ""
	}
	var p struct {
		Version string `json:"version"`
	}
	if json.Unmarshal(b, &p) != nil {
		return ""
	}
	return p.Version
}

// freePort asks the kernel for a free loopback TCP port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("dynalite: finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tailBuffer keeps the last max bytes written to it; safe for concurrent use.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
