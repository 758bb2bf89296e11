// Package dynamo writes mirrored entity state to DynamoDB.
//
// A Writer makes a set of items durable with BatchWriteItem: it coalesces the
// items by key (highest revision wins), splits them into batches that never
// name one DynamoDB item twice, sends the batches in parallel, retries
// unprocessed items and transient errors with exponential backoff and full
// jitter, and stops sending while DynamoDB keeps failing (a circuit breaker).
//
// The Writer writes exactly what it is given, without conditions: the caller
// passes the latest state per key and so guarantees that an item never moves
// back to an older state. EnsureTable creates a table and its global
// secondary indexes when missing.
package dynamo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdcflow/cdcflow/sinks/breaker"
	"github.com/cdcflow/cdcflow/sinks/retry"
)

// MaxBatchSize is the most write requests one BatchWriteItem call may carry.
const MaxBatchSize = 25

// Defaults applied by NewWriter to zero Options fields.
const (
	DefaultConcurrency      = 8
	DefaultMaxRetries       = 10
	DefaultBaseBackoff      = 50 * time.Millisecond
	DefaultMaxBackoff       = 5 * time.Second
	DefaultBreakerThreshold = 5
	DefaultBreakerCooldown  = 5 * time.Second
	DefaultRequestTimeout   = 3 * time.Second
)

// Item is the desired state of one DynamoDB item.
type Item struct {
	// Key is the stable identity used for coalescing (e.g. the product id).
	Key string
	// Rev is the monotonically increasing revision of the entity's state;
	// among items of one Key the highest Rev wins.
	Rev uint64
	// Delete deletes the item instead of putting it.
	Delete bool
	// KeyAttrs are the item's primary key attributes. Required for deletes;
	// recommended for puts too, where they must equal the same attributes in
	// Attrs: they let the Writer detect two Keys naming one DynamoDB item and
	// name the items in errors.
	KeyAttrs map[string]types.AttributeValue
	// Attrs is the full item for puts (including the key attributes).
	Attrs map[string]types.AttributeValue
}

// Options configures a Writer. Zero fields take the defaults above.
type Options struct {
	// Table is the DynamoDB table written to. Required.
	Table string
	// MaxBatch is the number of items per BatchWriteItem request, at most 25.
	MaxBatch int
	// Concurrency is the number of BatchWriteItem requests in flight at once,
	// across all concurrent Write calls of the Writer.
	Concurrency int
	// MaxRetries is how often one request is retried without progress before
	// Write gives up with ErrRetriesExhausted; a response that writes some of
	// its items restarts the count. A negative value means no limit: Write
	// then returns only on success, when ctx is done or the breaker opens.
	MaxRetries int
	// BaseBackoff and MaxBackoff bound the exponential backoff between
	// retries; each wait is uniformly random in [0, min(MaxBackoff,
	// BaseBackoff*2^(n-1))] for the n-th retry (full jitter).
	BaseBackoff, MaxBackoff time.Duration
	// RequestTimeout bounds one BatchWriteItem call; a call that times out is
	// retried like a connection error.
	RequestTimeout time.Duration
	// BreakerThreshold is the number of consecutive failed requests (errors
	// that would be retried) that opens the circuit breaker. Requests that
	// were in flight together and fail together count once, so one event
	// breaking all connections at once does not open it by itself.
	BreakerThreshold int
	// BreakerCooldown is how long the breaker stays open before it lets one
	// probe request through (half-open); the probe's success closes it.
	BreakerCooldown time.Duration
	// Registerer receives the Writer's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Logger receives retries, breaker changes and rejected items.
	// Default slog.Default().
	Logger *slog.Logger
	// Name is the value of the metrics' "sink" label, e.g. "inventory", and
	// of the consumer_dynamodb_* metrics' "service" label (the service
	// name). Default: the table name.
	Name string
}

// ErrBreakerOpen is returned (wrapped) by Write while the circuit breaker
// (package sinks/breaker) is open, without sending anything. It wraps
// breaker.ErrOpen.
var ErrBreakerOpen = fmt.Errorf("dynamodb %w", breaker.ErrOpen)

// ErrRetriesExhausted is returned (wrapped) when a request failed
// MaxRetries+1 times in a row.
var ErrRetriesExhausted = errors.New("dynamodb retries exhausted")

// ErrInvalidItem is returned (wrapped, naming the table and key) for an item
// that DynamoDB rejects for good (a validation error) or that is malformed.
// Retrying such an item cannot succeed; the other items of the Write are
// written nevertheless.
var ErrInvalidItem = errors.New("invalid dynamodb item")

// batchAPI is the part of the DynamoDB client the Writer uses.
type batchAPI interface {
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}

// Writer writes items to one DynamoDB table. It is safe for concurrent use,
// but concurrent Write calls are not ordered against each other: the caller
// must not write the same key in two calls at once. (Nor can any writer
// without conditions order a request that timed out, which DynamoDB may
// still apply later, against the writes after it; RequestTimeout keeps that
// window far beyond DynamoDB's normal latency.)
type Writer struct {
	api     batchAPI
	opts    Options
	log     *slog.Logger
	m       *metrics
	br      *breaker.Breaker
	sem     chan struct{}
	noRetry func(*dynamodb.Options)
}

// NewWriter returns a Writer for opts.Table using client. Its metrics are
// registered on opts.Registerer; registering two Writers with the same Name
// and Table on one registerer fails.
func NewWriter(client *dynamodb.Client, opts Options) (*Writer, error) {
	if client == nil {
		return nil, errors.New("dynamo writer: nil client")
	}
	return newWriter(client, opts)
}

func newWriter(api batchAPI, opts Options) (*Writer, error) {
	if opts.Table == "" {
		return nil, errors.New("dynamo writer: Options.Table is empty")
	}
	if opts.MaxBatch > MaxBatchSize || opts.MaxBatch < 0 {
		return nil, fmt.Errorf("dynamo writer %s: MaxBatch %d out of range 1..%d", opts.Table, opts.MaxBatch, MaxBatchSize)
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&opts.MaxBatch, MaxBatchSize)
	def(&opts.Concurrency, DefaultConcurrency)
	def(&opts.BreakerThreshold, DefaultBreakerThreshold)
	if opts.MaxRetries == 0 {
		opts.MaxRetries = DefaultMaxRetries
	}
	defD(&opts.BaseBackoff, DefaultBaseBackoff)
	defD(&opts.MaxBackoff, DefaultMaxBackoff)
	defD(&opts.RequestTimeout, DefaultRequestTimeout)
	defD(&opts.BreakerCooldown, DefaultBreakerCooldown)
	if opts.MaxBackoff < opts.BaseBackoff {
		opts.MaxBackoff = opts.BaseBackoff
	}
	if opts.Name == "" {
		opts.Name = opts.Table
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("sink", opts.Name, "table", opts.Table)
	m, err := newMetrics(opts.Name, opts.Table, opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("dynamo writer %s: metrics: %w", opts.Table, err)
	}
	w := &Writer{
		api:  api,
		opts: opts,
		log:  log,
		m:    m,
		sem:  make(chan struct{}, opts.Concurrency),
		// The Writer retries by itself (with the breaker seeing every
		// failure); the SDK's retryer, with its own backoff and retry quota,
		// would hide failures and multiply attempts.
		noRetry: func(o *dynamodb.Options) {
			o.Retryer = aws.NopRetryer{}
			o.RetryMaxAttempts = 0
		},
	}
	w.br = breaker.New(breaker.Options{Threshold: opts.BreakerThreshold, Cooldown: opts.BreakerCooldown,
		OnChange: breaker.Report("dynamodb", m.breaker, log, opts.BreakerCooldown)})
	return w, nil
}

// Healthy reports whether the circuit breaker is closed; it is false while
// the breaker is open or half-open.
func (w *Writer) Healthy() bool { return w.br.State() == breaker.Closed }

// State is the circuit breaker's state: "closed", "open" or "half-open".
func (w *Writer) State() string { return w.br.State().String() }

// entry is one write request on its way, with the Key it came from.
type entry struct {
	key      string
	del      bool
	wr       types.WriteRequest
	keyNames []string // the key attribute names known in this Write, sorted
}

// Write makes items durable. It coalesces them by Key (highest Rev wins;
// among equal Revs the later item), and by DynamoDB key where KeyAttrs tell
// it, splits them into BatchWriteItem requests of at most MaxBatch items,
// sends Concurrency requests at a time and retries unprocessed items and
// retryable errors (throttling, 5xx, connection errors, timeouts) with
// exponential backoff and full jitter.
//
// It returns nil once every item is written. Otherwise it returns, wrapped:
// ctx's error when ctx ends; ErrBreakerOpen when the circuit breaker is or
// becomes open (at once, sending nothing, when it is open on entry);
// ErrRetriesExhausted; a non-retryable error of DynamoDB naming the table;
// and ErrInvalidItem for each rejected item, naming it, while the others are
// written. Items may have been written when Write fails: retrying the same
// items is safe.
func (w *Writer) Write(ctx context.Context, items []Item) error {
	if len(items) == 0 {
		return nil
	}
	if w.br.State() == breaker.Open {
		w.m.failed(classBreakerOpen)
		return fmt.Errorf("dynamo %s: %d items not written: %w", w.opts.Table, len(items), ErrBreakerOpen)
	}
	entries, invalid := w.prepare(items)
	chunks := make([][]entry, 0, (len(entries)+w.opts.MaxBatch-1)/w.opts.MaxBatch)
	for i := 0; i < len(entries); i += w.opts.MaxBatch {
		chunks = append(chunks, entries[i:min(i+w.opts.MaxBatch, len(entries))])
	}

	// A fatal error (breaker open, retries exhausted, a request-wide
	// rejection) cancels the other requests of this Write.
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		mu       sync.Mutex
		itemErrs = invalid
		next     atomic.Int64
		wg       sync.WaitGroup
	)
	workers := min(w.opts.Concurrency, len(chunks))
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(chunks) || wctx.Err() != nil {
					return
				}
				errs, fatal := w.writeChunk(wctx, chunks[i])
				if fatal != nil {
					cancel(fatal)
					return
				}
				if len(errs) > 0 {
					mu.Lock()
					itemErrs = append(itemErrs, errs...)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()

	itemErrs = w.summarize(itemErrs)
	if err := ctx.Err(); err != nil {
		return errors.Join(append([]error{fmt.Errorf("dynamo %s: write of %d items interrupted: %w",
			w.opts.Table, len(entries), context.Cause(ctx))}, itemErrs...)...)
	}
	if cause := context.Cause(wctx); cause != nil {
		return errors.Join(append([]error{cause}, itemErrs...)...)
	}
	return errors.Join(itemErrs...)
}

// maxItemErrors is how many rejected items a Write's error names.
const maxItemErrors = 10

// summarize logs rejected items and keeps the first maxItemErrors of their
// errors, standing for the rest with a count.
func (w *Writer) summarize(errs []error) []error {
	if len(errs) == 0 {
		return nil
	}
	w.log.Error("dynamodb items rejected; they cannot be written as they are", "items", len(errs), "first", errs[0])
	if len(errs) <= maxItemErrors {
		return errs
	}
	rest := len(errs) - maxItemErrors
	return append(errs[:maxItemErrors:maxItemErrors],
		fmt.Errorf("dynamo %s: %d more items: %w", w.opts.Table, rest, ErrInvalidItem))
}

// prepare validates and coalesces items into write requests, in the order
// of each surviving item's Key's first appearance.
func (w *Writer) prepare(items []Item) ([]entry, []error) {
	// By Key: highest Rev wins, the later of equal Revs.
	byKey := make(map[string]int, len(items))
	order := make([]int, 0, len(items))
	for i := range items {
		k := items[i].Key
		j, ok := byKey[k]
		if !ok {
			byKey[k] = len(order)
			order = append(order, i)
			continue
		}
		if items[i].Rev >= items[order[j]].Rev {
			order[j] = i
		}
	}
	// By DynamoDB key, where known: two Keys naming one item would make
	// DynamoDB reject the whole batch.
	var keyNames []string
	seen := map[string]bool{}
	for _, i := range order {
		for n := range items[i].KeyAttrs {
			if !seen[n] {
				seen[n] = true
				keyNames = append(keyNames, n)
			}
		}
	}
	sort.Strings(keyNames)
	bySig := make(map[string]int, len(order))
	kept := order[:0:0]
	var errs []error
	for _, i := range order {
		it := &items[i]
		if err := w.validate(it); err != nil {
			errs = append(errs, err)
			continue
		}
		sig := itemSig(it, keyNames)
		if sig == "" {
			kept = append(kept, i)
			continue
		}
		j, ok := bySig[sig]
		if !ok {
			bySig[sig] = len(kept)
			kept = append(kept, i)
			continue
		}
		w.log.Warn("two keys name one dynamodb item; keeping the higher revision",
			"key", items[kept[j]].Key, "other_key", it.Key)
		if it.Rev >= items[kept[j]].Rev {
			kept[j] = i
		}
	}
	if n := len(items) - len(kept) - len(errs); n > 0 {
		w.m.coalesced.Add(float64(n))
	}
	entries := make([]entry, len(kept))
	for n, i := range kept {
		it := &items[i]
		e := entry{key: it.Key, del: it.Delete, keyNames: keyNames}
		if it.Delete {
			e.wr.DeleteRequest = &types.DeleteRequest{Key: it.KeyAttrs}
		} else {
			e.wr.PutRequest = &types.PutRequest{Item: it.Attrs}
		}
		entries[n] = e
	}
	return entries, errs
}

func (w *Writer) validate(it *Item) error {
	bad := func(why string) error {
		w.m.failed(classInvalid)
		return fmt.Errorf("dynamo %s: key %q: %w: %s", w.opts.Table, it.Key, ErrInvalidItem, why)
	}
	switch {
	case it.Key == "":
		return bad("empty Key")
	case it.Delete && len(it.KeyAttrs) == 0:
		return bad("delete without KeyAttrs")
	case !it.Delete && len(it.Attrs) == 0:
		return bad("put without Attrs")
	}
	if !it.Delete {
		for n, v := range it.KeyAttrs {
			a, ok := it.Attrs[n]
			if !ok || attrSig(a) != attrSig(v) {
				return bad(fmt.Sprintf("key attribute %q differs between KeyAttrs and Attrs", n))
			}
		}
	}
	return nil
}

// writeChunk writes one batch until it is written or fails. It returns the
// errors of rejected items (the others are written), or a fatal error that
// ends the whole Write.
func (w *Writer) writeChunk(ctx context.Context, chunk []entry) (itemErrs []error, fatal error) {
	pending := chunk
	failures := 0 // consecutive attempts without progress
	for len(pending) > 0 {
		if failures > 0 {
			if w.opts.MaxRetries >= 0 && failures > w.opts.MaxRetries {
				return nil, fmt.Errorf("dynamo %s: %d items (%s) not written after %d attempts: %w",
					w.opts.Table, len(pending), keyList(pending), failures, ErrRetriesExhausted)
			}
			w.m.retries.Inc()
			if err := retry.Sleep(ctx, retry.FullJitter(failures, w.opts.BaseBackoff, w.opts.MaxBackoff)); err != nil {
				return nil, fmt.Errorf("dynamo %s: %w", w.opts.Table, context.Cause(ctx))
			}
		}
		t, err := w.br.Allow(ctx)
		if err != nil {
			if errors.Is(err, breaker.ErrOpen) {
				w.m.failed(classBreakerOpen)
				return nil, fmt.Errorf("dynamo %s: %d items (%s) not written: %w", w.opts.Table, len(pending), keyList(pending), ErrBreakerOpen)
			}
			return nil, fmt.Errorf("dynamo %s: %w", w.opts.Table, context.Cause(ctx))
		}
		out, err := w.send(ctx, pending)
		if err != nil {
			if ctx.Err() != nil { // the Write ends: no verdict on DynamoDB
				w.br.Record(t, breaker.None)
				return nil, fmt.Errorf("dynamo %s: %w", w.opts.Table, context.Cause(ctx))
			}
			class, retryable := classify(err)
			w.m.failed(class)
			if retryable {
				w.br.Record(t, breaker.Failure)
				failures++
				w.log.Debug("dynamodb batch write failed; retrying", "items", len(pending), "class", class, "attempt", failures, "error", err)
				continue
			}
			// DynamoDB answered: it is up, whatever it thinks of the request.
			w.br.Record(t, breaker.Success)
			if class == classValidation {
				return w.isolate(ctx, pending, err)
			}
			return nil, fmt.Errorf("dynamo %s: batch of %d items (%s) rejected: %w", w.opts.Table, len(pending), keyList(pending), err)
		}
		w.br.Record(t, breaker.Success)
		unprocessed := out.UnprocessedItems[w.opts.Table]
		if len(unprocessed) > len(pending) {
			return nil, fmt.Errorf("dynamo %s: %d unprocessed items returned for %d sent", w.opts.Table, len(unprocessed), len(pending))
		}
		puts, dels := countKinds(pending)
		uputs, udels := 0, 0
		for _, wr := range unprocessed {
			if wr.DeleteRequest != nil {
				udels++
			} else {
				uputs++
			}
		}
		w.m.written(puts-uputs, dels-udels)
		if len(unprocessed) == 0 {
			return nil, nil
		}
		w.m.unprocessed.Add(float64(len(unprocessed)))
		if len(unprocessed) < len(pending) {
			failures = 1 // progress: back off from the start
		} else {
			failures++
		}
		w.log.Debug("dynamodb returned unprocessed items; retrying", "unprocessed", len(unprocessed), "sent", len(pending))
		pending = matchUnprocessed(unprocessed, pending)
	}
	return nil, nil
}

// isolate splits a batch that DynamoDB rejected as invalid until the
// rejected items stand alone, writing the valid ones.
func (w *Writer) isolate(ctx context.Context, batch []entry, err error) ([]error, error) {
	if len(batch) == 1 {
		return []error{fmt.Errorf("dynamo %s: key %q: %w: %w", w.opts.Table, batch[0].key, ErrInvalidItem, err)}, nil
	}
	half := len(batch) / 2
	var errs []error
	for _, part := range [][]entry{batch[:half], batch[half:]} {
		e, fatal := w.writeChunk(ctx, part)
		if fatal != nil {
			return nil, fatal
		}
		errs = append(errs, e...)
	}
	return errs, nil
}

// send makes one BatchWriteItem call, holding one of the Writer's
// Concurrency slots.
func (w *Writer) send(ctx context.Context, batch []entry) (*dynamodb.BatchWriteItemOutput, error) {
	select {
	case w.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	defer func() { <-w.sem }()
	reqs := make([]types.WriteRequest, len(batch))
	for i := range batch {
		reqs[i] = batch[i].wr
	}
	rctx, cancel := context.WithTimeout(ctx, w.opts.RequestTimeout)
	defer cancel()
	start := time.Now()
	out, err := w.api.BatchWriteItem(rctx, &dynamodb.BatchWriteItemInput{
		RequestItems: map[string][]types.WriteRequest{w.opts.Table: reqs},
	}, w.noRetry)
	w.m.sent(time.Since(start).Seconds())
	return out, err
}

// matchUnprocessed turns the write requests DynamoDB returned unprocessed
// into entries, recovering each one's Key from the batch sent where the
// key attributes allow; unmatched ones keep an unknown Key.
func matchUnprocessed(unprocessed []types.WriteRequest, sent []entry) []entry {
	keyNames := sent[0].keyNames
	bySig := make(map[string]string, len(sent))
	for _, e := range sent {
		if s := wrSig(e.wr, keyNames); s != "" {
			bySig[s] = e.key
		}
	}
	out := make([]entry, len(unprocessed))
	for i, wr := range unprocessed {
		key, ok := bySig[wrSig(wr, keyNames)]
		if !ok {
			key = "?"
		}
		out[i] = entry{key: key, del: wr.DeleteRequest != nil, wr: wr, keyNames: keyNames}
	}
	return out
}

// wrSig is the signature of a write request's DynamoDB key: the delete's
// key, or the put's attributes named keyNames ("" when unknown).
func wrSig(wr types.WriteRequest, keyNames []string) string {
	if wr.DeleteRequest != nil {
		return keySig(wr.DeleteRequest.Key)
	}
	if wr.PutRequest == nil || len(keyNames) == 0 {
		return ""
	}
	k := make(map[string]types.AttributeValue, len(keyNames))
	for _, n := range keyNames {
		v, ok := wr.PutRequest.Item[n]
		if !ok {
			return ""
		}
		k[n] = v
	}
	return keySig(k)
}

// itemSig is the signature of an item's DynamoDB key: its KeyAttrs, else
// its Attrs named keyNames, else "" (unknown).
func itemSig(it *Item, keyNames []string) string {
	if len(it.KeyAttrs) > 0 {
		return keySig(it.KeyAttrs)
	}
	if it.Delete || len(keyNames) == 0 {
		return ""
	}
	return wrSig(types.WriteRequest{PutRequest: &types.PutRequest{Item: it.Attrs}}, keyNames)
}

// keySig renders key attributes canonically (names sorted, typed values).
func keySig(k map[string]types.AttributeValue) string {
	names := make([]string, 0, len(k))
	for n := range k {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%q=%s;", n, attrSig(k[n]))
	}
	return b.String()
}

// attrSig renders a scalar key attribute value with its type. Other types
// (never key attributes) render by their Go value.
func attrSig(v types.AttributeValue) string {
	switch a := v.(type) {
	case *types.AttributeValueMemberS:
		return "S" + fmt.Sprintf("%q", a.Value)
	case *types.AttributeValueMemberN:
		return "N" + a.Value
	case *types.AttributeValueMemberB:
		return "B" + fmt.Sprintf("%x", a.Value)
	default:
		return fmt.Sprintf("%T%v", v, v)
	}
}

func countKinds(es []entry) (puts, dels int) {
	for _, e := range es {
		if e.del {
			dels++
		} else {
			puts++
		}
	}
	return puts, dels
}

// keyList names up to three Keys of a batch for error messages.
func keyList(es []entry) string {
	const show = 3
	var b strings.Builder
	b.WriteString("keys ")
	for i, e := range es {
		if i == show {
			fmt.Fprintf(&b, " and %d more", len(es)-show)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", e.key)
	}
	return b.String()
}
