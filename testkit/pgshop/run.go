package pgshop

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Result is one run of the shop: what the slot delivered and what the
// database holds at the end.
type Result struct {
	Capture  *Capture
	Final    *Final
	Workload WorkloadStats
	Analytics
	Timings map[string]time.Duration
}

// Run creates the schema on the cluster's shop database, seeds the
// snapshot part of the catalogue (and a few orders), creates the slot,
// reads the snapshot in the slot's exported snapshot, streams the slot
// while the rest of the catalogue and then the concurrent workload run,
// ends the stream with a marker message, reads the final tables and
// checks that the captured changes replay, in commit order, exactly into
// them (every before image equal to the row it replaces).
func Run(ctx context.Context, c *Cluster, cfg Config) (*Result, error) {
	cfg = cfg.withDefaults()
	res := &Result{Timings: map[string]time.Duration{}}
	lap := time.Now()
	step := func(name string) {
		res.Timings[name] = time.Since(lap)
		lap = time.Now()
	}
	conn, err := pgx.Connect(ctx, c.DSN(Database))
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, Schema); err != nil {
		return nil, fmt.Errorf("pgshop: schema: %w", err)
	}
	s := newShop(cfg)
	if err := s.seed(ctx, conn, cfg.SnapshotProducts, cfg.SnapshotOrders, 1); err != nil {
		return nil, fmt.Errorf("pgshop: seed before the slot: %w", err)
	}
	s.changes.Store(0)
	step("schema and snapshot seed")

	slot, err := CreateSlot(ctx, c)
	if err != nil {
		return nil, err
	}
	defer slot.Close()
	var snap *Tx
	if cfg.SnapshotProducts > 0 || cfg.SnapshotOrders > 0 {
		if snap, err = slot.ReadSnapshot(ctx, c); err != nil {
			return nil, fmt.Errorf("pgshop: snapshot: %w", err)
		}
	}
	step("slot and snapshot")

	token := randomToken()
	sctx, cancelStream := context.WithCancel(ctx)
	defer cancelStream()
	type streamed struct {
		txs []*Tx
		err error
	}
	streamc := make(chan streamed, 1)
	go func() {
		txs, err := slot.Stream(sctx, token)
		streamc <- streamed{txs, err}
	}()
	wctx, cancelWork := context.WithCancel(ctx)
	defer cancelWork()
	workErr := make(chan error, 1)
	began := time.Now()
	go func() {
		if err := s.seed(wctx, conn, cfg.StreamProducts, 0, 2); err != nil {
			workErr <- fmt.Errorf("pgshop: catalogue: %w", err)
			return
		}
		workErr <- s.run(wctx, c)
	}()
	var st streamed
	select {
	case err := <-workErr:
		if err != nil {
			return nil, fmt.Errorf("pgshop: workload: %w", err)
		}
	case st = <-streamc:
		return nil, fmt.Errorf("pgshop: the stream ended during the workload: %v", st.err)
	}
	res.Workload = s.stats(time.Since(began))
	step("workload")
	if _, err := conn.Exec(ctx, "SELECT pg_logical_emit_message(false, $1, $2)", MarkerPrefix, token); err != nil {
		return nil, err
	}
	select {
	case st = <-streamc:
	case <-time.After(2 * time.Minute):
		return nil, fmt.Errorf("pgshop: the stream did not reach the end marker")
	}
	if st.err != nil {
		return nil, st.err
	}
	step("stream drain")

	res.Capture = &Capture{Slot: SlotName, ConsistentPoint: slot.ConsistentPoint, Snapshot: snap, Txs: st.txs}
	if res.Final, err = ReadFinal(ctx, conn); err != nil {
		return nil, err
	}
	if err := res.Capture.Verify(res.Final); err != nil {
		return nil, err
	}
	if res.Analytics, err = QueryAnalytics(ctx, conn); err != nil {
		return nil, err
	}
	step("final state")
	return res, nil
}

func randomToken() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Final is the content of the shop's tables at the end of a run.
type Final struct {
	Rows map[*Table]map[int64]Row
}

// ReadFinal reads every row of the shop's tables.
func ReadFinal(ctx context.Context, conn *pgx.Conn) (*Final, error) {
	f := &Final{Rows: map[*Table]map[int64]Row{}}
	for _, t := range Tables {
		rows, err := selectRows(ctx, conn, t)
		if err != nil {
			return nil, err
		}
		m := map[int64]Row{}
		for _, r := range rows {
			m[r.Int(0)] = r
		}
		f.Rows[t] = m
	}
	return f, nil
}

// Verify replays the captured changes in commit order into tables and
// checks the chain: every snapshot row and insert is new, every update and
// delete's before image is the row as replayed so far, every change's
// LSN increases within its transaction and along its row, and the end
// state is exactly final.
func (c *Capture) Verify(final *Final) error {
	state := map[*Table]map[int64]Row{}
	rowLSN := map[*Table]map[int64]uint64{}
	for _, t := range Tables {
		state[t], rowLSN[t] = map[int64]Row{}, map[int64]uint64{}
	}
	var prevEnd uint64
	for i, tx := range c.Txs {
		if tx.LastCommitLSN != prevEnd {
			return fmt.Errorf("pgshop: transaction %d (xid %d): last commit LSN %s, want %s", i, tx.Xid, FormatLSN(tx.LastCommitLSN), FormatLSN(prevEnd))
		}
		if tx.EndLSN <= prevEnd || tx.CommitLSN >= tx.EndLSN {
			return fmt.Errorf("pgshop: transaction %d (xid %d): commit %s end %s after end %s", i, tx.Xid, FormatLSN(tx.CommitLSN), FormatLSN(tx.EndLSN), FormatLSN(prevEnd))
		}
		prevEnd = tx.EndLSN
	}
	for _, ch := range c.Changes() {
		st, lsns := state[ch.Table], rowLSN[ch.Table]
		where := fmt.Sprintf("%s %c id=%d at %s (xid %d)", ch.Table.Name, ch.Op, ch.ID, FormatLSN(ch.LSN), ch.Tx.Xid)
		if !ch.Tx.Snapshot {
			if ch.LSN <= lsns[ch.ID] {
				return fmt.Errorf("pgshop: %s: LSN not above the row's previous change %s", where, FormatLSN(lsns[ch.ID]))
			}
			if ch.LSN <= c.ConsistentPoint || ch.LSN >= ch.Tx.CommitLSN {
				return fmt.Errorf("pgshop: %s: LSN outside (%s, %s)", where, FormatLSN(c.ConsistentPoint), FormatLSN(ch.Tx.CommitLSN))
			}
		}
		lsns[ch.ID] = ch.LSN
		cur, exists := st[ch.ID]
		switch ch.Op {
		case OpRead, OpCreate:
			if exists {
				return fmt.Errorf("pgshop: %s: the row exists already", where)
			}
			st[ch.ID] = ch.After
		case OpUpdate:
			if !exists || !cur.Equal(ch.Before) {
				return fmt.Errorf("pgshop: %s: before image %v, replayed row %v", where, ch.Before, cur)
			}
			st[ch.ID] = ch.After
		case OpDelete:
			if !exists || !cur.Equal(ch.Before) {
				return fmt.Errorf("pgshop: %s: before image %v, replayed row %v", where, ch.Before, cur)
			}
			delete(st, ch.ID)
		}
	}
	for _, t := range Tables {
		got, want := state[t], final.Rows[t]
		if len(got) != len(want) {
			return fmt.Errorf("pgshop: replayed %s has %d rows, the table %d", t.Name, len(got), len(want))
		}
		for id, w := range want {
			if g, ok := got[id]; !ok || !g.Equal(w) {
				return fmt.Errorf("pgshop: replayed %s id=%d is %v, the table holds %v", t.Name, id, g, w)
			}
		}
	}
	for i := range c.Txs {
		for j := 1; j < len(c.Txs[i].Changes); j++ {
			if c.Txs[i].Changes[j].LSN <= c.Txs[i].Changes[j-1].LSN {
				return fmt.Errorf("pgshop: xid %d: change LSNs not increasing", c.Txs[i].Xid)
			}
		}
	}
	return nil
}
