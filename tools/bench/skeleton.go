package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"

	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/internal/app"
	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/internal/kafka"
)

// SkeletonGroup is the consumer group of a service's skeleton.
func SkeletonGroup(service string) string { return service + "-skeleton" }

// Kinds of skeleton loop message.
const (
	skEntity byte = 1 // written to the table
	skFanOut byte = 2 // written to the table, then one loopback to the target
)

// skeleton is the Goka skeleton: the ceiling a service's processor is measured
// against: a minimal Goka processor with the service's graph shape, run by
// the load command beside the service, over the same input records, in
// the same run (as a separate process: `cdc-bench -serve-skeleton
// <service>`, under its own consumer group <service>-skeleton).
//
// What it keeps of the product:
//
//   - the input edges: each CDC record is decoded with the product's
//     decoder (codecs/debezium, configured from DECIMAL_SCALE and
//     UNAVAILABLE_VALUE_PLACEHOLDER as processors/cdc's is); tombstones and
//     truncates are skipped; a record that does not decode goes to the
//     service's dead-letter topic (the output edge is declared, as
//     processors/cdc.Input.DefineGroup does);
//   - the service's loopback fan-out: every change is re-keyed onto the
//     group's loop topic, and the loop messages fan out as the service's do;
//   - one group-table write per loop message (codec.Bytes: the value is the
//     loop message itself);
//   - the Goka and Sarama options of production: the configuration is read
//     from the environment by config.Load, internal/kafka.New builds the
//     Settings (LevelDB behind the write-back buffer under STATE_DIR,
//     idempotent producer, the ordered commits), and the processor is built
//     with Settings.ProcessorOptions, as internal/app does; the library
//     loggers are routed as app.Main routes them.
//
// Fan-out per service:
//
//	inventory-service: products → loop p/<id> → table write;
//	                   order_items → loop i/<line id> → table write + loopback p/<product_id> (one delta) → table write
//	analytics-service: orders → loop o/<id> → table write;
//	                   order_items → loop l/<line id> → table write + loopback o/<order_id> → table write
//	search-indexer:    products → loop <id> → table write
//
// What it deliberately leaves out: the business logic (stock, sales
// figures, search documents, low-stock alerts), the state codecs (the
// table value is the loop message's bytes, never decoded), the
// exactly-once bookkeeping (package delivery: applied positions, outboxes,
// marks; every loop message is written, duplicates included), the views
// and the HTTP API (only /healthz is served), the sinks (DynamoDB, S3, the
// dead-letter archive), the consumer-lag poller, the metrics, and the
// schema registry (the skeleton reads the JSON converter's records only).
// The loop message is a few varints (a kind, the fan-out target's id and
// the change's commit position), not the product's event encoding.
//
// The analytics fan-out is its graph since the figures are folded by the
// view (orders and lines only); run against a release that kept aggregate
// keys (d/, s/, w/, c/, p/), its extra loop messages show as the gap.
//
// skeleton holds the callbacks of one service's skeleton.
type skeleton struct {
	dec *debezium.Decoder
	dlq goka.Stream
	// target is the key prefix of the fan-out's receiver: "p/" (inventory:
	// a line's product), "o/" (analytics: a line's order).
	target string
}

// skeletonMsg is a loop message: kind, fan-out target id, commit position.
func skeletonMsg(kind byte, target int64, pos debezium.Position) []byte {
	b := make([]byte, 0, 1+3*binary.MaxVarintLen64)
	b = append(b, kind)
	b = binary.AppendVarint(b, target)
	b = binary.AppendVarint(b, pos.TsMs)
	return binary.AppendUvarint(b, pos.LSN)
}

// parseSkeletonMsg returns a loop message's kind and target.
func parseSkeletonMsg(b []byte) (kind byte, target int64, err error) {
	if len(b) < 2 {
		return 0, 0, fmt.Errorf("skeleton loop message of %d bytes", len(b))
	}
	target, n := binary.Varint(b[1:])
	if n <= 0 {
		return 0, 0, errors.New("skeleton loop message: bad target")
	}
	return b[0], target, nil
}

// rekey is what the skeleton does with one decoded change: the loop
// message for its entity's key ("" skips it).
type rekey func(m *debezium.Message) (key string, msg []byte)

// input is the skeleton's CDC input edge: decode with the product's
// decoder, dead-letter what does not decode, skip tombstones and
// truncates, re-key the rest onto the loop.
func (s *skeleton) input(topic string, rk rekey) goka.Edge {
	return goka.Input(goka.Stream(topic), new(codec.Bytes), func(ctx goka.Context, msg interface{}) {
		value, _ := msg.([]byte)
		m, err := s.dec.Decode(topic, []byte(ctx.Key()), value)
		if err != nil {
			ctx.Emit(s.dlq, ctx.Key(), value)
			return
		}
		if m.Kind != debezium.KindChange {
			return
		}
		if key, lm := rk(&m); key != "" {
			ctx.Loopback(key, lm)
		}
	})
}

// onLoop writes the loop message to the table and, for a fan-out message,
// sends one loopback to its target.
func (s *skeleton) onLoop(ctx goka.Context, msg interface{}) {
	b, _ := msg.([]byte)
	ctx.SetValue(b)
	kind, target, err := parseSkeletonMsg(b)
	if err != nil {
		ctx.Fail(fmt.Errorf("key %q: %w", ctx.Key(), err))
		return
	}
	if kind == skFanOut && target != 0 && s.target != "" {
		ctx.Loopback(s.target+strconv.FormatInt(target, 10), skeletonMsg(skEntity, 0, debezium.Position{}))
	}
}

// lineOf is the row image of an order-line change: after, else before.
func lineOf(m *debezium.Message) *debezium.OrderItem {
	if m.AfterItem != nil {
		return m.AfterItem
	}
	return m.BeforeItem
}

func entity(prefix string) rekey {
	return func(m *debezium.Message) (string, []byte) {
		return prefix + strconv.FormatInt(m.ID, 10), skeletonMsg(skEntity, 0, m.Pos)
	}
}

// SkeletonGraph is the skeleton's group graph for a service, on the
// service's input topics (cfg.Inputs), under group.
func SkeletonGraph(cfg config.Config, group goka.Group) (*goka.GroupGraph, error) {
	s := &skeleton{
		dec: debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: cfg.DecimalScale, UnavailablePlaceholder: cfg.UnavailablePlaceholder}),
		dlq: goka.Stream(cfg.DLQTopic),
	}
	var edges []goka.Edge
	switch cfg.Service.Name {
	case config.Inventory.Name:
		s.target = "p/"
		edges = append(edges,
			s.input(cfg.Inputs.Products, entity("p/")),
			s.input(cfg.Inputs.OrderItems, func(m *debezium.Message) (string, []byte) {
				var product int64
				if l := lineOf(m); l != nil {
					product = l.ProductID
				}
				return "i/" + strconv.FormatInt(m.ID, 10), skeletonMsg(skFanOut, product, m.Pos)
			}))
	case config.Analytics.Name:
		s.target = "o/"
		edges = append(edges,
			s.input(cfg.Inputs.Orders, entity("o/")),
			s.input(cfg.Inputs.OrderItems, func(m *debezium.Message) (string, []byte) {
				var order int64
				if l := lineOf(m); l != nil {
					order = l.OrderID
				}
				return "l/" + strconv.FormatInt(m.ID, 10), skeletonMsg(skFanOut, order, m.Pos)
			}))
	case config.Search.Name:
		edges = append(edges, s.input(cfg.Inputs.Products, entity("")))
	default:
		return nil, fmt.Errorf("no skeleton for service %q", cfg.Service.Name)
	}
	edges = append(edges,
		goka.Loop(new(codec.Bytes), s.onLoop),
		goka.Persist(new(codec.Bytes)),
		goka.Output(s.dlq, new(codec.Bytes)),
	)
	return goka.DefineGroup(group, edges...), nil
}

// ServeSkeleton is the skeleton's process (cdc-bench -serve-skeleton): it
// reads the service's configuration from the environment (KAFKA_GROUP_ID
// is set by the load command to SkeletonGroup), builds the Kafka settings
// and the processor as the service does, serves /healthz on HTTP_ADDR and
// runs until SIGTERM or SIGINT. It returns the exit code.
func ServeSkeleton(svc config.Service) int {
	cfg, err := config.Load(svc, os.LookupEnv)
	level := slog.LevelInfo
	if err == nil {
		level = cfg.LogLevel
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("service", svc.Name, "skeleton", true)
	app.RouteLibraryLogs(log)
	if err != nil {
		log.Error("cannot start", "error", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := runSkeleton(ctx, cfg, log); err != nil {
		log.Error("stopped with an error", "error", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

func runSkeleton(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()

	ks, err := kafka.New(cfg, false)
	if err != nil {
		return err
	}
	ks.Log = log
	// The dead-letter topic, as the service's builder creates it.
	if err := ks.EnsureStreams(cfg.Topics[0], cfg.DLQTopic); err != nil {
		return err
	}
	graph, err := SkeletonGraph(cfg, goka.Group(cfg.GroupID))
	if err != nil {
		return err
	}
	p, err := goka.NewProcessor(ks.Brokers, graph, ks.ProcessorOptions()...)
	if err != nil {
		return fmt.Errorf("create skeleton processor for group %s: %w", cfg.GroupID, err)
	}
	log.Info("skeleton running", "group", cfg.GroupID, "topics", strings.Join(cfg.Topics, ","))
	if err := p.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("skeleton processor %s: %w", cfg.GroupID, err)
	}
	return nil
}
