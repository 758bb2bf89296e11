package pgshop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cdcflow/cdcflow/testkit/testenv"
)

// BinRoot is where Debian's postgresql-<ver> packages put their programs:
// BinRoot/<ver>/bin/postgres.
var BinRoot = "/usr/lib/postgresql"

// Database is the shop database the cluster creates (Debezium's source.db).
const Database = "ecommerce"

// superuser is the role initdb creates; authentication is trust on loopback.
const superuser = "postgres"

// Binaries is one installed PostgreSQL version.
type Binaries struct {
	Dir     string // .../bin
	Version int    // major version
}

// FindBinaries returns the newest PostgreSQL under BinRoot that has
// initdb, postgres and pg_ctl.
func FindBinaries() (Binaries, error) {
	matches, _ := filepath.Glob(filepath.Join(BinRoot, "*", "bin", "postgres"))
	var found []Binaries
	for _, m := range matches {
		dir := filepath.Dir(m)
		ver, err := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
		if err != nil {
			continue
		}
		ok := true
		for _, p := range []string{"initdb", "pg_ctl", "postgres"} {
			if st, err := os.Stat(filepath.Join(dir, p)); err != nil || st.Mode()&0o111 == 0 {
				ok = false
			}
		}
		if ok {
			found = append(found, Binaries{Dir: dir, Version: ver})
		}
	}
	if len(found) == 0 {
		return Binaries{}, fmt.Errorf("pgshop: no PostgreSQL under %s/*/bin (Debian's package postgresql installs it there)", BinRoot)
	}
	sort.Slice(found, func(i, j int) bool { return found[i].Version > found[j].Version })
	return found[0], nil
}

// Cluster is a private PostgreSQL server: its own data directory and unix
// socket directory under a temporary directory, listening on a free TCP
// port of 127.0.0.1 only, with wal_level=logical.
type Cluster struct {
	Bin     Binaries
	Dir     string // the temporary directory holding everything
	DataDir string
	SockDir string
	Port    int

	cred    *syscall.Credential // nil: run as ourselves
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	logPath string
	stopped bool
}

// StartT starts a cluster for t and stops and removes it when t ends.
// Without PostgreSQL binaries it skips t, except under CI (CI set and not
// "false" or "0"), where it fails.
func StartT(t testing.TB) *Cluster {
	t.Helper()
	bin, err := FindBinaries()
	if err != nil {
		if testenv.InCI() {
			t.Fatalf("%v; under CI this is a failure (.ci/run installs the package)", err)
		}
		t.Skipf("%v; set CI=true to make this a failure", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := Start(ctx, bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stopping PostgreSQL: %v", err)
		}
	})
	return c
}

// Start initialises a data directory with bin's initdb and starts a server
// on it. As root (initdb and postgres refuse to run as root), both run as
// the postgres system user, which owns the directory. Stop ends it.
func Start(ctx context.Context, bin Binaries) (*Cluster, error) {
	c := &Cluster{Bin: bin}
	if os.Geteuid() == 0 {
		cred, err := postgresUser()
		if err != nil {
			return nil, err
		}
		c.cred = cred
	}
	base := os.TempDir()
	if c.cred != nil && !traversableByOthers(base) {
		base = "/tmp" // the postgres user must reach the directory
	}
	dir, err := os.MkdirTemp(base, "pgshop-")
	if err != nil {
		return nil, err
	}
	c.Dir = dir
	c.DataDir = filepath.Join(dir, "data")
	c.SockDir = filepath.Join(dir, "sock")
	c.logPath = filepath.Join(dir, "postgres.log")
	fail := func(err error) (*Cluster, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := os.Mkdir(c.SockDir, 0o755); err != nil {
		return fail(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return fail(err)
	}
	if c.cred != nil {
		for _, p := range []string{dir, c.SockDir} {
			if err := os.Chown(p, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
				return fail(err)
			}
		}
	}

	initdb := c.command(ctx, "initdb", "-D", c.DataDir, "-U", superuser, "--auth=trust",
		"--encoding=UTF8", "--no-locale", "--no-sync", "--no-instructions")
	var out bytes.Buffer
	initdb.Stdout, initdb.Stderr = &out, &out
	if err := initdb.Run(); err != nil {
		return fail(fmt.Errorf("pgshop: initdb: %v\n%s", err, out.String()))
	}

	var lastErr error
	for attempt := 0; attempt < 4; attempt++ {
		port, err := freePort()
		if err != nil {
			return fail(err)
		}
		c.Port = port
		if lastErr = c.launch(ctx); lastErr == nil {
			break
		}
		if !strings.Contains(c.logTail(), "could not bind") && !strings.Contains(c.logTail(), "already in use") {
			break
		}
	}
	if lastErr != nil {
		return fail(lastErr)
	}
	if err := c.createDatabase(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// traversableByOthers reports whether every directory from path up to the
// root lets other users through (o+x).
func traversableByOthers(path string) bool {
	p, err := filepath.Abs(path)
	if err != nil {
		return false
	}
	for {
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm()&0o001 == 0 {
			return false
		}
		parent := filepath.Dir(p)
		if parent == p {
			return true
		}
		p = parent
	}
}

// postgresUser looks up Debian's postgres system user.
func postgresUser() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgshop: running as root, PostgreSQL must run as the postgres user: %v", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("pgshop: user postgres has uid %q gid %q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// command prepares one of the cluster's programs, as the postgres user
// when we are root.
func (c *Cluster) command(ctx context.Context, prog string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.Bin.Dir, prog), args...)
	cmd.Dir = c.Dir
	cmd.Env = []string{"PATH=" + c.Bin.Dir + ":/usr/bin:/bin", "LC_ALL=C", "LANG=C", "TZ=UTC", "HOME=" + c.Dir}
	cmd.SysProcAttr = sysProcAttr(c.cred)
	return cmd
}

// launch starts the postmaster as a child process and waits until it
// accepts connections.
func (c *Cluster) launch(ctx context.Context) error {
	logf, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	settings := map[string]string{
		"listen_addresses":        "127.0.0.1",
		"port":                    strconv.Itoa(c.Port),
		"unix_socket_directories": c.SockDir,
		"wal_level":               "logical",
		"max_replication_slots":   "8",
		"max_wal_senders":         "8",
		"max_connections":         "50",
		"fsync":                   "off",
		"full_page_writes":        "off",
		"shared_buffers":          "32MB",
		"timezone":                "UTC",
		"log_timezone":            "UTC",
		"datestyle":               "ISO, MDY",
		"deadlock_timeout":        "50ms",
		"jit":                     "off",
		"log_min_messages":        "warning",
		"log_checkpoints":         "off",
	}
	args := []string{"-D", c.DataDir}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "-c", k+"="+settings[k])
	}
	// Not CommandContext: the server outlives ctx (the start deadline).
	cmd := c.command(context.Background(), "postgres", args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgshop: start postgres: %v", err)
	}
	c.cmd = cmd
	c.exited = make(chan struct{})
	go func() {
		c.waitErr = cmd.Wait()
		close(c.exited)
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-c.exited:
			return fmt.Errorf("pgshop: postgres exited at start (%v):\n%s", c.waitErr, c.logTail())
		default:
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgconn.Connect(cctx, c.DSN("postgres"))
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			c.kill()
			return fmt.Errorf("pgshop: postgres did not accept connections: %v\n%s", err, c.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *Cluster) createDatabase(ctx context.Context) error {
	conn, err := pgconn.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+Database+" TEMPLATE template0 ENCODING 'UTF8'").ReadAll(); err != nil {
		return fmt.Errorf("pgshop: create database: %v", err)
	}
	return nil
}

// DSN is the connection string of database db over TCP.
func (c *Cluster) DSN(db string) string {
	return fmt.Sprintf("host=127.0.0.1 port=%d user=%s dbname=%s sslmode=disable connect_timeout=10", c.Port, superuser, db)
}

// ReplicationDSN is DSN for a logical replication connection to db.
func (c *Cluster) ReplicationDSN(db string) string {
	return c.DSN(db) + " replication=database"
}

// logTail returns the end of the server's log.
func (c *Cluster) logTail() string {
	b, _ := os.ReadFile(c.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Log returns the end of the server's log (for failure messages).
func (c *Cluster) Log() string { return c.logTail() }

// kill ends the postmaster at once (SIGQUIT: immediate shutdown, then
// SIGKILL) and waits for it.
func (c *Cluster) kill() {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	select {
	case <-c.exited:
		return
	default:
	}
	c.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-c.exited
	}
}

// Stop shuts the server down (pg_ctl stop -m fast, immediate when that
// does not finish in time) and removes its directory.
func (c *Cluster) Stop() error {
	if c.stopped {
		return nil
	}
	c.stopped = true
	var errs []error
	if c.cmd != nil {
		select {
		case <-c.exited:
		default:
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			stop := c.command(ctx, "pg_ctl", "stop", "-D", c.DataDir, "-m", "fast", "-w", "-t", "20")
			out, err := stop.CombinedOutput()
			cancel()
			if err != nil {
				errs = append(errs, fmt.Errorf("pg_ctl stop: %v: %s", err, out))
			}
			select {
			case <-c.exited:
			case <-time.After(10 * time.Second):
				c.kill()
			}
		}
	}
	if err := os.RemoveAll(c.Dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
