package e2e

// Starts and stops an operator can trust (issue 12): the real service
// binaries as processes. HTTP_ADDR is bound before anything else (a clash
// fails at once, naming it); /healthz and /metrics answer while the service
// waits for Kafka, its topics or DynamoDB, and /readyz answers 503 saying
// which; SIGTERM at any of those stages exits 0 at once; every line of the
// log, the Kafka client's included, is JSON.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/internal/app"
	"github.com/cdcflow/cdcflow/testkit/testenv"
	"github.com/cdcflow/cdcflow/tools/embedded"
)

// ssReadyz fetches /readyz: its status code and body.
func ssReadyz(url string) (int, map[string]any) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url + "/readyz")
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

// ssWaitReason polls /readyz until it answers 503 with a reason containing
// every one of want, and returns that reason. /healthz and /metrics must
// answer 200 meanwhile.
func ssWaitReason(t *testing.T, p *procService, within time.Duration, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(within)
	last := ""
	for {
		p.CheckRunning()
		code, body := ssReadyz(p.URL())
		reason, _ := body["reason"].(string)
		if code != 0 {
			last = fmt.Sprintf("%d %q", code, reason)
		}
		ok := code == http.StatusServiceUnavailable
		for _, w := range want {
			ok = ok && strings.Contains(reason, w)
		}
		if ok {
			for _, path := range []string{"/healthz", "/metrics"} {
				if c := procGet(p.URL() + path); c != http.StatusOK {
					t.Fatalf("GET %s answered %d while the service waits (%s), want 200", path, c, reason)
				}
			}
			return reason
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz did not answer 503 with a reason naming %q within %v; last: %s\n%s", want, within, last, procTail(p.current().log, 20))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ssTerminate sends SIGTERM and requires exit code 0 within the shutdown
// bound; it returns how long the stop took.
func ssTerminate(t *testing.T, p *procService, stage string) time.Duration {
	t.Helper()
	exit, took := p.Terminate(app.ShutdownTimeout + 5*time.Second)
	if exit.code != 0 || took > app.ShutdownTimeout {
		t.Fatalf("SIGTERM while %s: %s after %v, want exit code 0 within %v:\n%s", stage, exit, took, app.ShutdownTimeout, procTail(p.current().log, 20))
	}
	t.Logf("SIGTERM while %s: exit code 0 after %v", stage, took.Round(time.Millisecond))
	return took
}

// ssCheckJSONLog requires every line of a service's log to be a JSON
// object with a level and a message, and returns the lines.
func ssCheckJSONLog(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines []map[string]any
	for i, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil || m["level"] == nil || m["msg"] == nil {
			t.Errorf("log line %d is not a JSON log line: %q", i+1, l)
			continue
		}
		lines = append(lines, m)
	}
	return lines
}

// ssHasLine reports whether one of lines has the level and component and a
// message containing msg.
func ssHasLine(lines []map[string]any, level, component, msg string) bool {
	for _, l := range lines {
		m, _ := l["msg"].(string)
		if l["level"] == level && (component == "" || l["component"] == component) && strings.Contains(m, msg) {
			return true
		}
	}
	return false
}

// An HTTP_ADDR in use fails the start at once, with a message naming
// HTTP_ADDR, though Kafka is unreachable (before: only after Kafka and
// DynamoDB answered).
func TestStartPortClash(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cmd := exec.Command(procBinary(t, "search-indexer"))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir(),
		"HTTP_ADDR=" + ln.Addr().String(), "STATE_DIR=" + filepath.Join(t.TempDir(), "state"),
		fmt.Sprintf("KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:%d", testenv.FreePort(t))}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
		t.Fatalf("still running 10 s after start with HTTP_ADDR %s in use: the clash was not reported at once:\n%s", ln.Addr(), out.String())
	}
	took := time.Since(start)
	code := cmd.ProcessState.ExitCode()
	if code == 0 || !strings.Contains(out.String(), "HTTP_ADDR") || !strings.Contains(out.String(), "address already in use") {
		t.Fatalf("exit code %d after %v, want != 0 and a message naming HTTP_ADDR:\n%s", code, took, out.String())
	}
	t.Logf("exit code %d after %v: %s", code, took.Round(time.Millisecond), strings.TrimSpace(out.String()))
}

// While Kafka is unreachable the service is alive (/healthz 200, /metrics),
// not ready (/readyz 503 naming Kafka and its address), and SIGTERM stops
// it with exit code 0. Its log, Sarama's lines included, is JSON.
func TestStartWaitingForKafka(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	broker := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	p := procStart(t, "search-indexer", "search", map[string]string{"KAFKA_BOOTSTRAP_SERVERS": broker})
	reason := ssWaitReason(t, p, 10*time.Second, "waiting for Kafka", broker, "connection refused")
	t.Logf("readyz: %s", reason)
	ssTerminate(t, p, "waiting for Kafka")
	lines := ssCheckJSONLog(t, p.current().log)
	if !ssHasLine(lines, "WARN", "sarama", "Failed to connect to broker") {
		t.Errorf("no WARN line of Sarama's about the refused connection: its log lines are lost or not leveled")
	}
	if ssHasLine(lines, "ERROR", "", "") {
		t.Errorf("an ERROR line while merely waiting for Kafka and stopping")
	}
}

// While an input topic is missing, /readyz names it; SIGTERM exits 0.
func TestStartWaitingForTopics(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	k, err := embedded.StartKafka(embedded.KafkaOptions{Partitions: 3, Topics: []string{"dbserver1.public.products"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	p := procStart(t, "inventory-service", "inventory", map[string]string{"KAFKA_BOOTSTRAP_SERVERS": strings.Join(k.Brokers(), ",")})
	reason := ssWaitReason(t, p, 10*time.Second, "input topics missing: dbserver1.public.order_items")
	if strings.Contains(reason, "dbserver1.public.products") {
		t.Errorf("readyz names a topic that exists: %s", reason)
	}
	t.Logf("readyz: %s", reason)
	ssTerminate(t, p, "waiting for topics")
	ssCheckJSONLog(t, p.current().log)
}

// While DynamoDB refuses the table's creation, /readyz says so and names
// the table; SIGTERM exits 0. (Before, the service stopped with an error.)
func TestStartWaitingForDynamoDB(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	k := startKafka(t)
	env := chaosAWSEnv(fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t)))
	env["KAFKA_BOOTSTRAP_SERVERS"] = strings.Join(k.Brokers(), ",")
	env["DYNAMODB_TABLE"] = "startstop-products"
	p := procStart(t, "search-indexer", "search", env)
	reason := ssWaitReason(t, p, 30*time.Second, "waiting for DynamoDB", "startstop-products")
	t.Logf("readyz: %s", reason)
	ssTerminate(t, p, "creating the DynamoDB table")
	lines := ssCheckJSONLog(t, p.current().log)
	if !ssHasLine(lines, "WARN", "", "waiting for DynamoDB") {
		t.Errorf("no WARN line saying the service waits for DynamoDB")
	}
}
