package e2e

// The subprocess harness of the chaos tests: the real service binaries,
// built once per test binary, run as child processes configured through
// their environment, against the in-process kfake broker (which lives in
// the test process and so survives any kill of a service), dynalite and
// gofakes3. Each child's stderr (JSON slog lines) goes to a file under the
// test's temporary directory; the tails are printed when the test fails.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/cdcflow/cdcflow/testkit/testenv"
	"github.com/cdcflow/cdcflow/tools/embedded"
)

// procServices are the binaries the chaos tests run.
var procServices = []string{"inventory-service", "analytics-service", "search-indexer"}

// procBuild holds the binaries, built once per test binary.
var procBuild struct {
	once sync.Once
	dir  string
	err  error
}

// TestMain removes the service binaries built by the chaos tests when the
// test binary ends.
func TestMain(m *testing.M) {
	code := m.Run()
	if procBuild.dir != "" {
		_ = os.RemoveAll(procBuild.dir)
	}
	os.Exit(code)
}

// procBinary returns the path of a service binary, building all three
// (go build -o <tmpdir> ./cmd/...) on the first call.
func procBinary(t testing.TB, name string) string {
	t.Helper()
	procBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "cdcflow-chaos-bin-")
		if err != nil {
			procBuild.err = fmt.Errorf("binary directory: %w", err)
			return
		}
		procBuild.dir = dir
		root, err := procModuleRoot()
		if err != nil {
			procBuild.err = err
			return
		}
		args := []string{"build", "-o", dir + string(filepath.Separator)}
		for _, s := range procServices {
			args = append(args, "./cmd/"+s)
		}
		cmd := exec.Command("go", args...)
		cmd.Dir = root
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			procBuild.err = fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
			return
		}
		t.Logf("built %v in %v", procServices, time.Since(start).Round(time.Millisecond))
	})
	if procBuild.err != nil {
		t.Fatalf("building the service binaries: %v", procBuild.err)
	}
	return filepath.Join(procBuild.dir, name)
}

// procModuleRoot finds the module root (the directory of go.mod) from this
// source file, else from the working directory.
func procModuleRoot() (string, error) {
	var starts []string
	if _, file, _, ok := runtime.Caller(0); ok {
		starts = append(starts, filepath.Dir(file))
	}
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	for _, d := range starts {
		for ; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				return d, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return "", errors.New("module root (go.mod) not found")
}

// procExit is how one process of a service ended.
type procExit struct {
	code   int    // exit code, -1 when killed by a signal
	signal string // the signal that killed it, if any
	err    error  // Wait's error, nil for exit code 0
	at     time.Time
}

func (e procExit) String() string {
	if e.signal != "" {
		return "signal: " + e.signal
	}
	return "exit code " + strconv.Itoa(e.code)
}

// procRun is one process of a service instance.
type procRun struct {
	cmd     *exec.Cmd
	url     string
	log     string
	started time.Time
	done    chan struct{} // closed when the process has exited
	exit    procExit      // set before done is closed
}

// exited reports whether the process has exited.
func (r *procRun) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// procService is one instance of a service binary, run as a series of
// processes (restarts) sharing a configuration and, unless wiped, a
// STATE_DIR.
type procService struct {
	t        testing.TB
	binary   string
	label    string // instance name in logs and file names
	env      map[string]string
	stateDir string
	logDir   string

	mu   sync.Mutex
	runs []*procRun
	// handled is the last scraped cdc_messages_total of each run: the CDC
	// records the run's input edges handled (a lower bound for killed runs).
	handled []int
	stopped bool
}

// procStart starts the first process of an instance of a service binary
// with env (HTTP_ADDR and STATE_DIR are set here) and registers a cleanup
// that kills whatever process is left and, when the test failed, prints the
// tails of the instance's logs.
func procStart(t testing.TB, binary, label string, env map[string]string) *procService {
	t.Helper()
	dir := t.TempDir()
	if keep := os.Getenv("CHAOS_LOG_DIR"); keep != "" {
		// Keep the logs and state after the test, for a post-mortem.
		var err error
		if dir, err = os.MkdirTemp(keep, strings.ReplaceAll(t.Name(), "/", "_")+"-"+label+"-"); err != nil {
			t.Fatal(err)
		}
	}
	p := &procService{t: t, binary: procBinary(t, binary), label: label, env: env,
		stateDir: filepath.Join(dir, "state"), logDir: dir}
	t.Cleanup(func() {
		p.mu.Lock()
		p.stopped = true
		p.mu.Unlock()
		if r := p.current(); r != nil && !r.exited() {
			_ = r.cmd.Process.Signal(syscall.SIGKILL)
			<-r.done
		}
		if t.Failed() {
			p.printTails()
		}
	})
	p.start()
	return p
}

// current returns the newest process, nil before the first start.
func (p *procService) current() *procRun {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.runs) == 0 {
		return nil
	}
	return p.runs[len(p.runs)-1]
}

// Runs is the number of processes started so far.
func (p *procService) Runs() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.runs)
}

// URL is the base URL of the current process's HTTP server.
func (p *procService) URL() string { return p.current().url }

// start starts a new process of the instance. The previous one must have
// exited.
func (p *procService) start() {
	t := p.t
	t.Helper()
	if r := p.current(); r != nil && !r.exited() {
		t.Fatalf("%s: start while process %d is running", p.label, r.cmd.Process.Pid)
	}
	if err := os.MkdirAll(p.stateDir, 0o755); err != nil {
		t.Fatalf("%s: STATE_DIR: %v", p.label, err)
	}
	n := p.Runs()
	logPath := filepath.Join(p.logDir, fmt.Sprintf("%s.%d.log", p.label, n))
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("%s: log file: %v", p.label, err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir(),
		"GOTRACEBACK=all", // a SIGQUIT after a stuck shutdown dumps every goroutine
		"HTTP_ADDR=" + addr, "STATE_DIR=" + p.stateDir,
	}
	for k, v := range p.env {
		env = append(env, k+"="+v)
	}
	slices.Sort(env)
	cmd := exec.Command(p.binary)
	cmd.Env = env
	cmd.Dir = p.logDir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = procSysProcAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("%s: start %s: %v", p.label, p.binary, err)
	}
	r := &procRun{cmd: cmd, url: "http://" + addr, log: logPath, started: time.Now(), done: make(chan struct{})}
	p.mu.Lock()
	p.runs = append(p.runs, r)
	p.handled = append(p.handled, 0)
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		logf.Close()
		e := procExit{code: cmd.ProcessState.ExitCode(), err: err, at: time.Now()}
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			e.signal = ws.Signal().String()
		}
		r.exit = e
		close(r.done)
	}()
	t.Logf("%s: started process %d (pid %d) on %s, STATE_DIR %s", p.label, n, cmd.Process.Pid, addr, p.stateDir)
}

// Restart starts a new process after the previous one exited; with wipe,
// the STATE_DIR is removed first, so that the tables can only be recovered
// from the Kafka changelogs.
func (p *procService) Restart(wipe bool) {
	p.t.Helper()
	if wipe {
		if err := os.RemoveAll(p.stateDir); err != nil {
			p.t.Fatalf("%s: wipe STATE_DIR: %v", p.label, err)
		}
	}
	p.start()
}

// Kill sends SIGKILL to the current process and waits until it is gone. It
// fails the test if the process had already exited by itself.
func (p *procService) Kill() {
	t := p.t
	t.Helper()
	r := p.current()
	if r.exited() {
		t.Fatalf("%s: process exited by itself (%s) before the kill; log %s", p.label, r.exit, r.log)
	}
	p.scrape() // the last count of what this run handled
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("%s: SIGKILL: %v", p.label, err)
	}
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: pid %d still running 30 s after SIGKILL", p.label, r.cmd.Process.Pid)
	}
	if r.exit.signal != syscall.SIGKILL.String() {
		t.Fatalf("%s: process ended with %s, not by the SIGKILL", p.label, r.exit)
	}
}

// Terminate sends SIGTERM to the current process and waits at most within
// for it to exit. On a timeout it sends SIGQUIT (the Go runtime then dumps
// every goroutine into the log) and SIGKILL, and fails the test.
func (p *procService) Terminate(within time.Duration) (procExit, time.Duration) {
	t := p.t
	t.Helper()
	r := p.current()
	if r.exited() {
		t.Fatalf("%s: process exited by itself (%s) before SIGTERM; log %s", p.label, r.exit, r.log)
	}
	p.scrape()
	start := time.Now()
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("%s: SIGTERM: %v", p.label, err)
	}
	select {
	case <-r.done:
		return r.exit, r.exit.at.Sub(start)
	case <-time.After(within):
	}
	_ = r.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-r.done:
	case <-time.After(5 * time.Second):
		_ = r.cmd.Process.Signal(syscall.SIGKILL)
		<-r.done
	}
	t.Fatalf("%s: still running %v after SIGTERM (goroutine dump in %s):\n%s", p.label, within, r.log, procTail(r.log, 80))
	return procExit{}, 0
}

// Dump sends SIGQUIT to the current process: the Go runtime writes every
// goroutine's stack to the log and exits. For a process found stuck.
func (p *procService) Dump() {
	p.t.Helper()
	r := p.current()
	if r.exited() {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Signal(syscall.SIGKILL)
		<-r.done
	}
	p.t.Logf("%s: goroutine dump of pid %d in %s", p.label, r.cmd.Process.Pid, r.log)
}

// procDiagnose logs what a stuck test needs to know about Kafka: whether
// the broker still serves a fresh consumer, and the group's offsets; and
// writes this test process's goroutines (the broker's among them) to a file
// (kept under CHAOS_LOG_DIR when set).
func procDiagnose(t testing.TB, k *embedded.Kafka, group string, topics ...string) {
	t.Helper()
	committed, hwm, err := procOffsets(k, group, topics...)
	t.Logf("diagnosis: group %s committed %d of %d records of %v (%v)", group, procSum(committed), procSum(hwm), topics, err)
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Brokers()...), kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		n := 0
		start := time.Now()
		for ctx.Err() == nil && int64(n) < procSum(hwm) {
			cl.PollFetches(ctx).EachRecord(func(*kgo.Record) { n++ })
		}
		cancel()
		cl.Close()
		t.Logf("diagnosis: a fresh consumer read %d records in %v", n, time.Since(start).Round(time.Millisecond))
	}
	dir := os.Getenv("CHAOS_LOG_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	f, err := os.CreateTemp(dir, "test-goroutines-*.txt")
	if err == nil {
		_ = pprof.Lookup("goroutine").WriteTo(f, 2)
		f.Close()
		t.Logf("diagnosis: goroutines of the test process in %s", f.Name())
	}
}

// WaitReady polls GET /readyz of the current process until it answers 200.
// It fails the test when the process exits or within passes.
func (p *procService) WaitReady(within time.Duration) time.Duration {
	t := p.t
	t.Helper()
	r := p.current()
	deadline := time.Now().Add(within)
	for {
		if r.exited() {
			t.Fatalf("%s: process exited (%s) before it was ready:\n%s", p.label, r.exit, procTail(r.log, 40))
		}
		if procGet(r.url+"/readyz") == http.StatusOK {
			return time.Since(r.started)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not ready within %v:\n%s", p.label, within, procTail(r.log, 40))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// CheckRunning fails the test when the current process has exited.
func (p *procService) CheckRunning() {
	p.t.Helper()
	if r := p.current(); r.exited() {
		p.t.Fatalf("%s: process exited unexpectedly (%s):\n%s", p.label, r.exit, procTail(r.log, 40))
	}
}

// scrape records the current process's cdc_messages_total.
func (p *procService) scrape() {
	p.mu.Lock()
	n := len(p.runs) - 1
	r := p.runs[n]
	p.mu.Unlock()
	if r.exited() {
		return
	}
	if v, ok := procMetric(r.url, "cdc_messages_total"); ok {
		p.mu.Lock()
		p.handled[n] = max(p.handled[n], int(v))
		p.mu.Unlock()
	}
}

// Handled sums, over every process of the instance, the CDC records its
// input edges handled (for killed processes, as last scraped).
func (p *procService) Handled() int {
	p.scrape()
	p.mu.Lock()
	defer p.mu.Unlock()
	total := 0
	for _, n := range p.handled {
		total += n
	}
	return total
}

// Scraping keeps Handled current while the test runs, until ctx ends.
func (p *procService) Scraping(ctx context.Context) {
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(300 * time.Millisecond):
				p.mu.Lock()
				stopped := p.stopped
				p.mu.Unlock()
				if stopped {
					return
				}
				p.scrape()
			}
		}
	}()
}

// printTails prints the end of each process's log.
func (p *procService) printTails() {
	p.mu.Lock()
	runs := slices.Clone(p.runs)
	p.mu.Unlock()
	for i, r := range runs {
		lines := 15
		if i == len(runs)-1 {
			lines = 60
		}
		state := "running"
		if r.exited() {
			state = r.exit.String()
		}
		p.t.Logf("---- %s process %d (%s), log %s, last %d lines:\n%s", p.label, i, state, r.log, lines, procTail(r.log, lines))
	}
}

// procTail returns the last n lines of a file.
func procTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// procLogCount counts the lines of a log file containing s.
func procLogCount(path, s string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		if bytes.Contains(sc.Bytes(), []byte(s)) {
			n++
		}
	}
	return n
}

// LogCount counts the lines containing s in the logs of every process of
// the instance.
func (p *procService) LogCount(s string) int {
	p.mu.Lock()
	runs := slices.Clone(p.runs)
	p.mu.Unlock()
	n := 0
	for _, r := range runs {
		n += procLogCount(r.log, s)
	}
	return n
}

// procGet returns the status of a GET, 0 when it fails.
func procGet(url string) int {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// procMetric sums a metric family of /metrics over its labels.
func procMetric(base, name string) (float64, bool) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(base + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, false
	}
	total, found := 0.0, false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			if v, err := strconv.ParseFloat(line[strings.LastIndex(line, " ")+1:], 64); err == nil {
				total += v
				found = true
			}
		}
	}
	return total, found
}

// ---- Kafka: consumer lag ----

// procLag reports how far the consumer group is behind on topics: the sum
// over their partitions of high watermark minus committed offset (a
// partition without a commit counts whole).
func procLag(t testing.TB, k *embedded.Kafka, group string, topics ...string) (int64, error) {
	t.Helper()
	committed, hwm, err := procOffsets(k, group, topics...)
	if err != nil {
		return 0, err
	}
	var lag int64
	for tp, h := range hwm {
		lag += max(0, h-committed[tp])
	}
	return lag, nil
}

// procOffsets returns, per topic and partition, the group's committed
// offset (0 without a commit; group "" reads none) and the high watermark.
// The committed offsets are read first, so a partition whose commit equals
// its high watermark had nothing left at that moment.
func procOffsets(k *embedded.Kafka, group string, topics ...string) (committed, hwm map[procTP]int64, err error) {
	cfg := sarama.NewConfig()
	cfg.Version = embedded.SaramaVersion()
	cfg.ClientID = "chaos-offsets"
	client, err := sarama.NewClient(k.Brokers(), cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("offsets of %s: connect: %w", group, err)
	}
	defer client.Close()
	parts := map[string][]int32{}
	for _, topic := range topics {
		ps, err := client.Partitions(topic)
		if err != nil {
			return nil, nil, fmt.Errorf("offsets of %s: partitions of %s: %w", group, topic, err)
		}
		parts[topic] = ps
	}
	committed, hwm = map[procTP]int64{}, map[procTP]int64{}
	if group != "" {
		admin, err := sarama.NewClusterAdminFromClient(client)
		if err != nil {
			return nil, nil, fmt.Errorf("offsets of %s: admin: %w", group, err)
		}
		resp, err := admin.ListConsumerGroupOffsets(group, parts)
		if err != nil {
			return nil, nil, fmt.Errorf("offsets of %s: committed offsets: %w", group, err)
		}
		for topic, ps := range parts {
			for _, p := range ps {
				if b := resp.GetBlock(topic, p); b != nil && b.Offset > 0 {
					committed[procTP{topic, p}] = b.Offset
				}
			}
		}
	}
	for topic, ps := range parts {
		for _, p := range ps {
			h, err := client.GetOffset(topic, p, sarama.OffsetNewest)
			if err != nil {
				return nil, nil, fmt.Errorf("offsets of %s: high watermark of %s/%d: %w", group, topic, p, err)
			}
			hwm[procTP{topic, p}] = h
		}
	}
	return committed, hwm, nil
}

// procTP is a topic partition.
type procTP struct {
	topic     string
	partition int32
}

// procSum adds up offsets.
func procSum(m map[procTP]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// procWaitCaughtUp waits until, in one pass over the groups in the order
// given, every group has committed everything of its topics. The order is
// the order work flows (inputs, loopback, the changelog's mirror): a
// message is committed only once its emits are acknowledged, so when a
// group is caught up on its inputs everything they caused is already in
// the topics checked after them. It returns a line describing the wait.
func procWaitCaughtUp(t testing.TB, k *embedded.Kafka, within time.Duration, running []*procService, groups ...procGroup) string {
	t.Helper()
	deadline := time.Now().Add(within)
	start := time.Now()
	for round := 0; ; round++ {
		var lagging []string
		for _, g := range groups {
			lag, err := procLag(t, k, g.group, g.topics...)
			if err != nil || lag > 0 {
				lagging = append(lagging, fmt.Sprintf("%s: lag %d %v", g.group, lag, err))
				break
			}
		}
		if len(lagging) == 0 {
			return fmt.Sprintf("all groups caught up after %v", time.Since(start).Round(100*time.Millisecond))
		}
		for _, p := range running {
			p.CheckRunning()
		}
		if time.Now().After(deadline) {
			for _, g := range groups {
				if lag, err := procLag(t, k, g.group, g.topics...); err != nil || lag > 0 {
					procDiagnose(t, k, g.group, g.topics...)
					break
				}
			}
			for _, p := range running {
				p.Dump() // where a stuck consumer waits, for the post-mortem
			}
			t.Fatalf("not caught up within %v: %s", within, strings.Join(lagging, "; "))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// procGroup is a consumer group and the topics it consumes.
type procGroup struct {
	group  string
	topics []string
}

// ---- kfake: expiring members that died while joining ----

// procNudgeMembers works around a bug of kfake, the in-process broker: a
// member whose JoinGroup answer could not be delivered (its process was
// killed while the join waited for a rebalance) never gets a session
// timer, so kfake never expires it; once the group is stable again, the
// partitions assigned to that dead member stay unconsumed for good. A real
// broker expires every member that stops heartbeating after its session
// timeout. Until ctx ends, this sends every member of the groups one
// heartbeat per generation on its behalf, which arms its session timer:
// live members heartbeat on anyway, a dead one expires a session timeout
// later, as on a real broker. The current generation of a group is read
// from the logs of the running instances.
func procNudgeMembers(ctx context.Context, t testing.TB, k *embedded.Kafka, groups []string, running func() []*procService) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Brokers()...))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer cl.Close()
		nudged := map[string]bool{} // group/generation/member
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			for _, group := range groups {
				gen := 0
				for _, p := range running() {
					if r := p.current(); r != nil && !r.exited() {
						if g, _, ok := procClaims(r.log, group, ""); ok {
							gen = max(gen, g)
						}
					}
				}
				if gen == 0 {
					continue
				}
				req := kmsg.NewPtrDescribeGroupsRequest()
				req.Groups = []string{group}
				rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				resp, err := req.RequestWith(rctx, cl)
				cancel()
				if err != nil || len(resp.Groups) != 1 {
					continue
				}
				for _, m := range resp.Groups[0].Members {
					key := fmt.Sprintf("%s/%d/%s", group, gen, m.MemberID)
					if nudged[key] {
						continue
					}
					hb := kmsg.NewPtrHeartbeatRequest()
					hb.Group, hb.Generation, hb.MemberID = group, int32(gen), m.MemberID
					hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
					hresp, err := hb.RequestWith(hctx, cl)
					cancel()
					if err == nil && (hresp.ErrorCode == 0 || hresp.ErrorCode == kerr.RebalanceInProgress.Code) {
						nudged[key] = true
					}
				}
			}
		}
	}()
}
