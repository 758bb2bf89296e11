package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/testkit/testenv"
	"github.com/cdcflow/cdcflow/tools/local"
)

// The dashboard of cdc-local (all three services on one server) in headless
// Chromium, against the API it reads: a known stream (fixed seed and size,
// plus two undecodable records) is processed to the end, then what a person
// would check on the page is compared with the JSON endpoints.
func TestDashboard(t *testing.T) {
	chromium := chromiumPath(t)
	dyn := testenv.Dynalite(t)
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": dyn.Endpoint(), "AWS_REGION": "us-east-1",
		"AWS_ACCESS_KEY_ID": "dashboard", "AWS_SECRET_ACCESS_KEY": "dashboard", "AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
	kafkaPort := testenv.FreePort(t)
	broker := "127.0.0.1:" + strconv.Itoa(kafkaPort)
	const changes = 3000
	base := startLocal(t, local.Options{
		KafkaPort: kafkaPort, HTTPAddr: "127.0.0.1:0", DataDir: t.TempDir(), Bucket: "analytics",
		Rate: 1000, Changes: changes, Seed: 7, Products: 60, FlushInterval: time.Second, Progress: time.Hour,
		Getenv: func(k string) (string, bool) {
			switch k {
			case "LOW_STOCK_THRESHOLD": // one the stream's stock crosses, so the low-stock list has products to compare
				return "40", true
			case "CONSUMER_LAG_INTERVAL": // lag read often enough to be seen while the stream is written
				return "1s", true
			}
			return os.LookupEnv(k)
		},
	})

	// The page is opened while the shop's changes are being written.
	b := newBrowser(t, chromium)
	shots := screenshotDir(t)
	opened := time.Now()
	b.run(t, "open the dashboard", chromedp.Navigate(base+"/"))
	b.waitJS(t, 10*time.Second, "the page shows the live system", `/^updated \d+ s ago/.test(document.getElementById("status").textContent)`)
	t.Logf("dashboard showed live data %v after navigation began", time.Since(opened).Round(time.Millisecond))

	poison := []string{"this is not JSON", `{"payload":{"op":"u","after":{"id":"x"}}}`}
	for _, v := range poison {
		produceRaw(t, broker, "dbserver1.public.products", "9999", v)
	}
	waitConverged(t, base, broker, changes+len(poison))

	for _, panel := range []string{"inventory", "analytics", "search", "pipeline"} {
		b.waitJS(t, 5*time.Second, panel+" panel shown", fmt.Sprintf(`!document.getElementById(%q).hidden`, panel))
	}

	t.Run("low-stock list equals the API", func(t *testing.T) {
		var alerts struct {
			Threshold int64 `json:"threshold"`
		}
		getJSON(t, base+"/v1/alerts/low-stock", &alerts)
		var low struct {
			Products []struct {
				ProductID int64 `json:"product_id"`
			} `json:"products"`
		}
		getJSON(t, base+"/v1/inventory?below="+strconv.FormatInt(alerts.Threshold, 10), &low)
		want := make([]int64, 0, len(low.Products))
		for _, p := range low.Products {
			want = append(want, p.ProductID)
		}
		if len(want) == 0 {
			t.Fatalf("the stream left no product below %d: the test checks nothing; change the seed", alerts.Threshold)
		}
		b.waitEqual(t, 10*time.Second, "low-stock list", `[...document.querySelectorAll("#low-list li[data-product-id]")].map(li => +li.dataset.productId)`, want)
		// The table marks the same products as low wherever it lists them.
		var marked []int64
		b.eval(t, `[...document.querySelectorAll("#inv-table tr.low")].map(tr => +tr.dataset.productId)`, &marked)
		for _, id := range marked {
			if !slices.Contains(want, id) {
				t.Errorf("table marks product %d low, the API does not list it below %d", id, alerts.Threshold)
			}
		}
	})

	t.Run("product detail follows the API", func(t *testing.T) {
		var id int64
		b.eval(t, `(() => { const tr = document.querySelector("#inv-table tbody tr[data-product-id]"); tr.click(); return +tr.dataset.productId; })()`, &id)
		var p struct {
			StockQuantity int64 `json:"stock_quantity"`
		}
		getJSON(t, base+"/v1/inventory/"+strconv.FormatInt(id, 10), &p)
		b.waitEqual(t, 5*time.Second, "detail stock", `document.getElementById("detail-body").hidden ? null : document.getElementById("d-stock").textContent.replace(/,/g, "")`, strconv.FormatInt(p.StockQuantity, 10))
	})

	t.Run("search box shows the API's ranking", func(t *testing.T) {
		token := commonToken(t, base)
		want := searchIDs(t, base, "q="+token+"&limit=20")
		b.run(t, "type the query", chromedp.SendKeys("#s-q", token, chromedp.ByID))
		b.waitEqual(t, 5*time.Second, "results for "+token, `[...document.querySelectorAll("#s-results li")].map(li => +li.dataset.productId)`, want)
		if len(want) < 2 {
			t.Fatalf("query %q matches %d products: too few to check a ranking", token, len(want))
		}
		// A price filter, typed as a person would.
		var prices []float64
		b.eval(t, fmt.Sprintf(`fetch("/v1/search?q=%s&limit=100").then(r => r.json()).then(j => j.results.map(r => +r.price))`, token), &prices)
		sort.Float64s(prices)
		minPrice := strconv.FormatFloat(prices[len(prices)/2], 'f', 2, 64)
		want = searchIDs(t, base, "q="+token+"&limit=20&min_price="+minPrice)
		b.run(t, "type a minimum price", chromedp.SendKeys("#s-min", minPrice, chromedp.ByID))
		b.waitEqual(t, 5*time.Second, "results for "+token+" from "+minPrice, `[...document.querySelectorAll("#s-results li")].map(li => +li.dataset.productId)`, want)
		b.shot(t, shots, "search", "#search")
	})

	t.Run("window chart has the API's windows", func(t *testing.T) {
		var daily struct {
			Data map[string]json.RawMessage `json:"data"`
		}
		getJSON(t, base+"/v1/reports/daily_sales", &daily)
		days := make([]string, 0, len(daily.Data))
		for d := range daily.Data {
			days = append(days, d)
		}
		sort.Strings(days)
		if len(days) == 0 {
			t.Fatal("no daily sales")
		}
		var win struct {
			Data []struct {
				Start   string      `json:"window_start"`
				Orders  int64       `json:"orders"`
				Revenue json.Number `json:"revenue"`
			} `json:"data"`
		}
		getJSON(t, base+"/v1/reports/windows?date="+days[len(days)-1], &win)
		want := make([]string, 0, len(win.Data))
		for _, w := range win.Data {
			want = append(want, fmt.Sprintf("%s %d %s", w.Start, w.Orders, w.Revenue))
		}
		b.waitEqual(t, 5*time.Second, "chart points", `[...document.querySelectorAll("#win-chart rect.bar")].map(r => r.dataset.start + " " + r.dataset.orders + " " + r.dataset.revenue)`, want)
	})

	t.Run("order status mix sums to the live orders", func(t *testing.T) {
		var summary struct {
			Metrics struct {
				TotalOrders int64 `json:"total_orders"`
			} `json:"metrics"`
		}
		getJSON(t, base+"/v1/reports/summary", &summary)
		if summary.Metrics.TotalOrders == 0 {
			t.Fatal("no live orders: the test checks nothing")
		}
		b.waitEqual(t, 5*time.Second, "sum of the status bars", `[...document.querySelectorAll("#status-bars .row")].reduce((a, r) => a + +r.dataset.count, 0)`, summary.Metrics.TotalOrders)
		b.waitEqual(t, 5*time.Second, "live orders figure", `+document.querySelector('#summary [data-metric="total_orders"]').dataset.value`, summary.Metrics.TotalOrders)
		var flush struct {
			LastOK  string   `json:"last_ok"`
			Objects []string `json:"objects"`
		}
		getJSON(t, base+"/v1/reports/s3", &flush)
		if flush.LastOK == "" || len(flush.Objects) < 5 {
			t.Fatalf("no complete S3 flush yet: %+v", flush)
		}
		// Flushes go on every second; the page shows one of them whole.
		b.waitJS(t, 10*time.Second, "the S3 card lists a flush's objects", `(() => { const ul = document.getElementById("s3-objects"); return ul && +ul.dataset.total >= 5 && document.getElementById("s3-last").textContent.endsWith("UTC"); })()`)
		b.shot(t, shots, "analytics", "#analytics")
	})

	t.Run("pipeline shows lag falling to 0 and the dead letters", func(t *testing.T) {
		// The page saw lag while the stream was written; it is done, so
		// the lag falls to 0.
		b.waitJS(t, 30*time.Second, "lag measured and 0", `document.querySelectorAll("#p-lag tr[data-lag]").length > 0 && document.getElementById("p-lag-total").dataset.total === "0"`)
		var most float64
		b.eval(t, `+document.getElementById("p-lag-total").dataset.max`, &most)
		if most <= 0 {
			t.Errorf("the lag panel never showed lag while %d changes were written", changes)
		}
		t.Logf("the most lag the page showed: %v records", most)
		var groups []string
		b.eval(t, `[...new Set([...document.querySelectorAll("#p-lag tr[data-lag]")].map(tr => tr.cells[0].textContent))].sort()`, &groups)
		for _, g := range []string{"inventory-service-group", "analytics-service-group", "search-indexer-group", "inventory-service-group-dynamodb"} {
			if !slices.Contains(groups, g) {
				t.Errorf("lag panel lists groups %v, missing %s", groups, g)
			}
		}
		var dead struct {
			DeadLetters []struct {
				Error string `json:"error"`
			} `json:"dead_letters"`
		}
		getJSON(t, base+"/v1/dead-letters/inventory-service", &dead)
		if len(dead.DeadLetters) != len(poison) {
			t.Fatalf("inventory-service has %d dead letters, want the %d poison records", len(dead.DeadLetters), len(poison))
		}
		for _, d := range dead.DeadLetters {
			b.waitJS(t, 5*time.Second, "dead letter shown: "+d.Error, fmt.Sprintf(`[...document.querySelectorAll("#p-dead li strong")].some(s => s.textContent === %q)`, d.Error))
		}
		var rows int
		b.eval(t, `document.querySelectorAll("#p-inputs tbody tr[data-topic]").length`, &rows)
		if rows != 5 { // inventory 2 topics, analytics 2, search 1
			t.Errorf("throughput table has %d service/topic rows, want 5", rows)
		}
		b.shot(t, shots, "pipeline", "#pipeline")
		b.shot(t, shots, "inventory", "#inventory")
	})

	t.Run("accessible and readable on a phone", func(t *testing.T) {
		var unlabeled []string
		b.eval(t, `[...document.querySelectorAll("input, select")].filter(e => !e.labels || e.labels.length === 0).map(e => e.id)`, &unlabeled)
		if len(unlabeled) > 0 {
			t.Errorf("inputs without a label: %v", unlabeled)
		}
		b.run(t, "phone viewport", emulation.SetDeviceMetricsOverride(390, 844, 2, true))
		b.waitJS(t, 5*time.Second, "no horizontal scrolling on a phone", `document.documentElement.scrollWidth <= window.innerWidth + 1`)
		b.shot(t, shots, "phone", "body")
	})

	b.checkNoConsoleErrors(t)
}

// startLocal runs cdc-local's system in the test and returns its URL.
func startLocal(t *testing.T, o local.Options) string {
	t.Helper()
	o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("BROWSER_VERBOSE") != "" {
		o.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	addr := make(chan string, 1)
	o.Ready = func(a string) { addr <- a }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- local.Run(ctx, o) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("cdc-local: %v", err)
			}
		case <-time.After(45 * time.Second):
			t.Error("cdc-local did not stop within 45 s")
		}
	})
	select {
	case a := <-addr:
		return "http://" + a
	case err := <-done:
		t.Fatalf("cdc-local did not start: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("cdc-local did not start within 2 minutes")
	}
	return ""
}

func produceRaw(t *testing.T, broker, topic, key, value string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(key), Value: []byte(value)}).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
}

// waitConverged waits until the generator has written at least records and
// every service has counted every record of each of its input topics (the
// topics' end offsets, stable for two seconds).
func waitConverged(t *testing.T, base, broker string, records int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	inputs := map[string][]string{
		"inventory-service": {"dbserver1.public.products", "dbserver1.public.order_items"},
		"analytics-service": {"dbserver1.public.orders", "dbserver1.public.order_items"},
		"search-indexer":    {"dbserver1.public.products"},
	}
	deadline := time.Now().Add(3 * time.Minute)
	var last string
	stableSince := time.Time{}
	for time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ends, err := adm.ListEndOffsets(ctx, "dbserver1.public.products", "dbserver1.public.orders", "dbserver1.public.order_items")
		cancel()
		if err != nil {
			last = err.Error()
			continue
		}
		end, total := map[string]int64{}, int64(0)
		ends.Each(func(o kadm.ListedOffset) { end[o.Topic] += o.Offset; total += o.Offset })
		var p struct {
			Series map[string][]struct {
				Labels map[string]string `json:"labels"`
				Value  float64           `json:"value"`
			} `json:"series"`
		}
		getJSON(t, base+"/v1/pipeline", &p)
		counted := map[string]int64{}
		for _, s := range p.Series["cdc_messages_total"] {
			counted[s.Labels["service"]+" "+s.Labels["topic"]] += int64(s.Value)
		}
		state := fmt.Sprintf("%d records in the topics %v; counted %v", total, end, counted)
		done := total >= int64(records)
		for svc, topics := range inputs {
			for _, topic := range topics {
				done = done && counted[svc+" "+topic] == end[topic]
			}
		}
		if !done || state != last {
			last, stableSince = state, time.Now()
			continue
		}
		if time.Since(stableSince) >= 2*time.Second {
			t.Logf("converged: %s", state)
			return
		}
	}
	t.Fatalf("not converged within 3 minutes: %s", last)
}

// commonToken is the search token found in the most product names.
func commonToken(t *testing.T, base string) string {
	t.Helper()
	var page struct {
		Products []struct {
			Name string `json:"name"`
		} `json:"products"`
	}
	getJSON(t, base+"/v1/inventory?limit=500", &page)
	count := map[string]int{}
	for _, p := range page.Products {
		seen := map[string]bool{}
		for _, f := range strings.FieldsFunc(strings.ToLower(p.Name), func(r rune) bool { return !(r >= 'a' && r <= 'z') }) {
			if len(f) > 2 && !seen[f] {
				seen[f] = true
				count[f]++
			}
		}
	}
	best := ""
	for tok, n := range count {
		if n > count[best] || (n == count[best] && tok < best) {
			best = tok
		}
	}
	if best == "" {
		t.Fatal("no product names to search for")
	}
	return best
}

func searchIDs(t *testing.T, base, query string) []int64 {
	t.Helper()
	var res struct {
		Results []struct {
			ProductID int64 `json:"product_id"`
		} `json:"results"`
	}
	getJSON(t, base+"/v1/search?"+query, &res)
	ids := make([]int64, 0, len(res.Results))
	for _, r := range res.Results {
		ids = append(ids, r.ProductID)
	}
	return ids
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v in %s", url, err, body)
	}
}

// chromiumPath finds Debian's Chromium (CHROMIUM overrides). Without it the
// test is skipped, except under CI, where .ci/run installs it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if testenv.InCI() {
		t.Fatal("chromium is required under CI (.ci/run installs Debian's chromium package)")
	}
	t.Skip("chromium is not installed (apt-get install chromium); set CI=true to make this a failure")
	return ""
}

// screenshotDir is where the panels' screenshots go: BROWSER_ARTIFACTS, or
// tests/browser/artifacts (ignored by git).
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("BROWSER_ARTIFACTS")
	if dir == "" {
		dir = "artifacts"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser is one headless Chromium tab that records console errors.
type browser struct {
	ctx    context.Context
	mu     sync.Mutex
	errors []string
}

func newBrowser(t *testing.T, exec string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exec),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1300, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &browser{ctx: ctx}
	chromedp.ListenTarget(ctx, func(ev any) {
		var msg string
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			msg = "exception: " + ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				msg += " " + ev.ExceptionDetails.Exception.Description
			}
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.APITypeError {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				msg = "console.error: " + strings.Join(parts, " ")
			}
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.LevelError {
				msg = "log: " + ev.Entry.Text + " " + ev.Entry.URL
			}
		}
		if msg != "" {
			b.mu.Lock()
			b.errors = append(b.errors, msg)
			b.mu.Unlock()
		}
	})
	// The first Run starts the browser, which lives as long as the context
	// of that call: no timeout on it.
	if err := chromedp.Run(ctx, cdplog.Enable(), runtime.Enable()); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return b
}

func (b *browser) run(t *testing.T, what string, actions ...chromedp.Action) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func (b *browser) eval(t *testing.T, js string, out any) {
	t.Helper()
	b.run(t, "evaluate "+js, chromedp.Evaluate(js, out, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
}

// waitJS waits until the expression is true.
func (b *browser) waitJS(t *testing.T, within time.Duration, what, js string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var ok bool
		b.eval(t, "Boolean("+js+")", &ok)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v (%s)", what, within, js)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitEqual waits until the expression's JSON equals want's.
func (b *browser) waitEqual(t *testing.T, within time.Duration, what, js string, want any) {
	t.Helper()
	wantJSON, _ := json.Marshal(want)
	deadline := time.Now().Add(within)
	for {
		var got string
		b.eval(t, "JSON.stringify("+js+")", &got)
		if got == string(wantJSON) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the page shows %s, the API %s", what, got, wantJSON)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// shot saves a screenshot of the element sel as dir/name.png.
func (b *browser) shot(t *testing.T, dir, name, sel string) {
	t.Helper()
	var png []byte
	b.run(t, "screenshot "+name, chromedp.ScrollIntoView(sel, chromedp.ByQuery), chromedp.Screenshot(sel, &png, chromedp.NodeVisible, chromedp.ByQuery))
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", path)
}

func (b *browser) checkNoConsoleErrors(t *testing.T) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.errors {
		t.Errorf("browser: %s", e)
	}
}
