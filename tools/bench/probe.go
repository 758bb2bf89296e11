package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/tools/embedded"
)

// probe watches a service from the outside, through Kafka: committed
// offsets against high watermarks, and the timestamps of the records its
// processor wrote to its group table.
type probe struct {
	brokers []string
	client  sarama.Client
	admin   sarama.ClusterAdmin
}

func newProbe(brokers []string) (*probe, error) {
	cfg := sarama.NewConfig()
	cfg.Version = embedded.SaramaVersion()
	cfg.ClientID = "cdc-bench-probe"
	client, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		return nil, fmt.Errorf("probe client: %w", err)
	}
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("probe admin: %w", err)
	}
	return &probe{brokers: brokers, client: client, admin: admin}, nil
}

func (p *probe) Close() { p.admin.Close() }

// caughtUp reports whether group has committed every record of topics, and
// if not, how many records are left.
func (p *probe) caughtUp(group string, topics ...string) (bool, int64, error) {
	if err := p.client.RefreshMetadata(topics...); err != nil {
		return false, 0, fmt.Errorf("metadata of %v: %w", topics, err)
	}
	parts := map[string][]int32{}
	for _, t := range topics {
		ps, err := p.client.Partitions(t)
		if err != nil {
			return false, 0, fmt.Errorf("partitions of %s: %w", t, err)
		}
		parts[t] = ps
	}
	resp, err := p.admin.ListConsumerGroupOffsets(group, parts)
	if err != nil {
		return false, 0, fmt.Errorf("offsets of group %s: %w", group, err)
	}
	var behind int64
	for t, ps := range parts {
		for _, part := range ps {
			hwm, err := p.client.GetOffset(t, part, sarama.OffsetNewest)
			if err != nil {
				return false, 0, fmt.Errorf("high watermark of %s/%d: %w", t, part, err)
			}
			committed := int64(0)
			if b := resp.GetBlock(t, part); b != nil && b.Offset > 0 {
				committed = b.Offset
			}
			if committed < hwm {
				behind += hwm - committed
			}
		}
	}
	return behind == 0, behind, nil
}

// waitCaughtUp polls caughtUp every 100ms until it holds or ctx ends.
func (p *probe) waitCaughtUp(ctx context.Context, group string, topics ...string) error {
	for {
		ok, behind, err := p.caughtUp(group, topics...)
		if err == nil && ok {
			return nil
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return fmt.Errorf("group %s: %w (last error: %v)", group, ctx.Err(), err)
			}
			return fmt.Errorf("group %s still %d records behind on %v: %w", group, behind, topics, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// span returns the producer timestamps of the first and the last record
// over topics (all partitions; empty topics are skipped): for a group's
// loop and table topics, when its processor wrote first and last. The
// first loop record is written as soon as the processor has handled its
// first input record (the input edge re-keys it onto the loop), so the
// span covers the re-keying before the first table write.
func (p *probe) span(ctx context.Context, topics ...string) (first, last time.Time, err error) {
	if err := p.client.RefreshMetadata(topics...); err != nil {
		return first, last, fmt.Errorf("metadata of %v: %w", topics, err)
	}
	want := 0
	for _, topic := range topics {
		ps, err := p.client.Partitions(topic)
		if err != nil {
			return first, last, fmt.Errorf("partitions of %s: %w", topic, err)
		}
		for _, part := range ps {
			lo, err := p.client.GetOffset(topic, part, sarama.OffsetOldest)
			if err != nil {
				return first, last, fmt.Errorf("low watermark of %s/%d: %w", topic, part, err)
			}
			hi, err := p.client.GetOffset(topic, part, sarama.OffsetNewest)
			if err != nil {
				return first, last, fmt.Errorf("high watermark of %s/%d: %w", topic, part, err)
			}
			if hi <= lo {
				continue
			}
			// Read each non-empty partition from its start: the first
			// record is there, the last is at hi-1.
			f, err := p.recordTime(ctx, topic, part, lo)
			if err != nil {
				return first, last, err
			}
			l, err := p.recordTime(ctx, topic, part, hi-1)
			if err != nil {
				return first, last, err
			}
			if first.IsZero() || f.Before(first) {
				first = f
			}
			if l.After(last) {
				last = l
			}
			want++
		}
	}
	if want == 0 {
		return first, last, fmt.Errorf("topics %v are empty", topics)
	}
	return first, last, nil
}

// partitionCounts returns the number of records in each partition of
// topic (high minus low watermark), by partition id.
func (p *probe) partitionCounts(topic string) ([]int64, error) {
	if err := p.client.RefreshMetadata(topic); err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	ps, err := p.client.Partitions(topic)
	if err != nil {
		return nil, fmt.Errorf("partitions of %s: %w", topic, err)
	}
	counts := make([]int64, len(ps))
	for _, part := range ps {
		lo, err := p.client.GetOffset(topic, part, sarama.OffsetOldest)
		if err != nil {
			return nil, fmt.Errorf("low watermark of %s/%d: %w", topic, part, err)
		}
		hi, err := p.client.GetOffset(topic, part, sarama.OffsetNewest)
		if err != nil {
			return nil, fmt.Errorf("high watermark of %s/%d: %w", topic, part, err)
		}
		if int(part) < len(counts) {
			counts[part] = hi - lo
		}
	}
	return counts, nil
}

// assignment returns the partitions of topic assigned to each member of
// group, by the member's client id, once the group is stable with members
// members (it waits for a rebalance in progress to end, up to a minute).
func (p *probe) assignment(ctx context.Context, group, topic string, members int) (map[string][]int32, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var last string
	for {
		out, state, err := p.describe(group, topic)
		if err == nil && state == "Stable" && len(out) == members {
			return out, nil
		}
		last = fmt.Sprintf("state %q, %d of %d members, error %v", state, len(out), members, err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("group %s: %s: %w", group, last, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (p *probe) describe(group, topic string) (map[string][]int32, string, error) {
	ds, err := p.admin.DescribeConsumerGroups([]string{group})
	if err != nil {
		return nil, "", err
	}
	if len(ds) != 1 {
		return nil, "", fmt.Errorf("%d descriptions of group %s", len(ds), group)
	}
	out := map[string][]int32{}
	for _, m := range ds[0].Members {
		a, err := m.GetMemberAssignment()
		if err != nil {
			return nil, ds[0].State, fmt.Errorf("assignment of %s: %w", m.ClientId, err)
		}
		if a == nil {
			continue
		}
		out[m.ClientId] = append(out[m.ClientId], a.Topics[topic]...)
	}
	return out, ds[0].State, nil
}

func (p *probe) recordTime(ctx context.Context, topic string, part int32, offset int64) (time.Time, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {part: kgo.NewOffset().At(offset)}}))
	if err != nil {
		return time.Time{}, fmt.Errorf("reader of %s/%d: %w", topic, part, err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		fs := cl.PollRecords(ctx, 1)
		if err := ctx.Err(); err != nil {
			return time.Time{}, fmt.Errorf("reading %s/%d@%d: %w", topic, part, offset, err)
		}
		for _, r := range fs.Records() {
			return r.Timestamp, nil
		}
	}
}

// bareRead reads every record of topics with a plain franz-go consumer
// and returns the count and the time from its start to the last record.
func bareRead(ctx context.Context, brokers []string, topics []string, total int) (int, time.Duration, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(64<<20))
	if err != nil {
		return 0, 0, fmt.Errorf("bare consumer: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	n := 0
	start := time.Now()
	for n < total {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return n, 0, fmt.Errorf("bare consumer read %d of %d records: %w", n, total, err)
		}
		if errs := fs.Errors(); len(errs) > 0 {
			return n, 0, fmt.Errorf("bare consumer: %v", errs[0].Err)
		}
		n += fs.NumRecords()
	}
	return n, time.Since(start), nil
}

// metrics is one scrape of a service's /metrics, by full series name
// (name{labels}).
type metrics map[string]float64

func scrape(ctx context.Context, url string) (metrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("scrape %s: %s: %s", url, resp.Status, b)
	}
	m := metrics{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m, sc.Err()
}

// sum adds every series of the metric name.
func (m metrics) sum(name string) float64 {
	t := 0.0
	for k, v := range m {
		if k == name || strings.HasPrefix(k, name+"{") {
			t += v
		}
	}
	return t
}

// max is the largest value of the metric name over its series.
func (m metrics) max(name string) float64 {
	t := 0.0
	for k, v := range m {
		if (k == name || strings.HasPrefix(k, name+"{")) && v > t {
			t = v
		}
	}
	return t
}

// buckets returns the cumulative histogram buckets of name (summed over
// label sets), by upper bound.
func (m metrics) buckets(name string) map[float64]float64 {
	out := map[float64]float64{}
	prefix := name + "_bucket{"
	for k, v := range m {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		// The label le, not the tail of another label's name (table=).
		i := strings.Index(k, `,le="`)
		if i < 0 {
			if i = strings.Index(k, `{le="`); i < 0 {
				continue
			}
		}
		rest := k[i+5:]
		le, err := strconv.ParseFloat(rest[:strings.IndexByte(rest, '"')], 64)
		if err != nil {
			continue
		}
		out[le] += v
	}
	return out
}

// quantile estimates quantile q of the observations between two scrapes of
// a cumulative histogram, interpolating linearly inside the bucket (as
// Prometheus' histogram_quantile does). It returns NaN without observations.
func quantile(q float64, before, after map[float64]float64) (float64, int) {
	bounds := make([]float64, 0, len(after))
	for le := range after {
		bounds = append(bounds, le)
	}
	sort.Float64s(bounds)
	counts := make([]float64, len(bounds))
	for i, le := range bounds {
		counts[i] = after[le] - before[le]
	}
	if len(bounds) == 0 || counts[len(counts)-1] <= 0 {
		return math.NaN(), 0
	}
	total := counts[len(counts)-1]
	rank := q * total
	lower, below := 0.0, 0.0
	for i, le := range bounds {
		if counts[i] >= rank {
			if math.IsInf(le, 1) {
				return lower, int(total) // beyond the last finite bound
			}
			in := counts[i] - below
			if in <= 0 {
				return le, int(total)
			}
			return lower + (le-lower)*(rank-below)/in, int(total)
		}
		lower, below = le, counts[i]
	}
	return lower, int(total)
}

// peakRSS is the peak resident set size (VmHWM) of a running process.
func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("peak RSS: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, err := strconv.ParseInt(f[1], 10, 64)
				if err != nil {
					return 0, fmt.Errorf("peak RSS: %q: %w", line, err)
				}
				return kb << 10, nil
			}
		}
	}
	return 0, errors.New("peak RSS: no VmHWM in /proc status")
}

// cpuTime is the CPU time (user + system) a running process has used.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("cpu time: %w", err)
	}
	// Fields after the command name (which is in parentheses and may hold
	// spaces): state is field 3, utime 14 and stime 15.
	rest := string(b)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0, fmt.Errorf("cpu time: short /proc stat %q", b)
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cpu time: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / 100, nil // USER_HZ is 100 on Linux
}
