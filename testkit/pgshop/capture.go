package pgshop

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// Slot is a logical replication slot (pgoutput) on its own replication
// connection, created as the Debezium connector creates it: with an
// exported snapshot, in which the initial snapshot is read.
type Slot struct {
	conn            *pgconn.PgConn
	ConsistentPoint uint64
	SnapshotName    string
}

// CreateSlot creates the slot on a new replication connection. Until
// Stream starts, the exported snapshot stays valid.
func CreateSlot(ctx context.Context, c *Cluster) (*Slot, error) {
	conn, err := pgconn.Connect(ctx, c.ReplicationDSN(Database))
	if err != nil {
		return nil, fmt.Errorf("pgshop: replication connection: %w", err)
	}
	res, err := pglogrepl.CreateReplicationSlot(ctx, conn, SlotName, "pgoutput",
		pglogrepl.CreateReplicationSlotOptions{Mode: pglogrepl.LogicalReplication, SnapshotAction: "EXPORT_SNAPSHOT"})
	if err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("pgshop: create replication slot: %w", err)
	}
	cp, err := pglogrepl.ParseLSN(res.ConsistentPoint)
	if err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("pgshop: consistent point %q: %w", res.ConsistentPoint, err)
	}
	return &Slot{conn: conn, ConsistentPoint: uint64(cp), SnapshotName: res.SnapshotName}, nil
}

// Close closes the replication connection (the slot stays).
func (s *Slot) Close() { s.conn.Close(context.Background()) }

// querier is what selectRows needs of a connection or transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// selectRows reads every row of t, by id, each column through its text
// form (the same parser as the stream's).
func selectRows(ctx context.Context, q querier, t *Table) ([]Row, error) {
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = c.Name + "::text"
	}
	rows, err := q.Query(ctx, "SELECT "+strings.Join(cols, ", ")+" FROM "+t.Name+" ORDER BY id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Row
	for rows.Next() {
		vals := make([]*string, len(t.Columns))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make(Row, len(vals))
		for i, v := range vals {
			if v == nil {
				row[i] = Value{Null: true}
				continue
			}
			if row[i], err = ParseText(t.Columns[i], *v); err != nil {
				return nil, fmt.Errorf("%s: %w", t.Name, err)
			}
		}
		out = append(out, row)
	}
	return out, rows.Err()
}

// ReadSnapshot reads every row of the shop's tables in the slot's exported
// snapshot, as the connector's initial snapshot does (its transaction id
// from txid_current(), its time the time it starts), into a transaction
// of op r changes at the consistent point.
func (s *Slot) ReadSnapshot(ctx context.Context, c *Cluster) (*Tx, error) {
	conn, err := pgx.Connect(ctx, c.DSN(Database))
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	started := time.Now()
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, "SET TRANSACTION SNAPSHOT '"+s.SnapshotName+"'"); err != nil {
		return nil, fmt.Errorf("pgshop: set transaction snapshot: %w", err)
	}
	var xid int64
	if err := tx.QueryRow(ctx, "SELECT txid_current()").Scan(&xid); err != nil {
		return nil, err
	}
	snap := &Tx{Xid: uint32(xid), Snapshot: true, CommitTime: started, CommitLSN: s.ConsistentPoint, EndLSN: s.ConsistentPoint}
	for _, t := range Tables {
		rows, err := selectRows(ctx, tx, t)
		if err != nil {
			return nil, err
		}
		now := time.Now()
		for _, r := range rows {
			snap.Changes = append(snap.Changes, &Change{Table: t, Op: OpRead, ID: r.Int(0), After: r, LSN: s.ConsistentPoint, ReceivedAt: now, Tx: snap})
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	return snap, nil
}

// MarkerPrefix is the prefix of the logical decoding message that ends a
// Stream: pg_logical_emit_message(false, MarkerPrefix, token).
const MarkerPrefix = "pgshop"

// Stream streams the slot from its consistent point with pgoutput (protocol
// version 1, the publication, as the connector does) and returns the
// transactions in commit order, until the non-transactional logical
// decoding message MarkerPrefix with content token arrives: emitted after
// the workload, it comes after every transaction committed before it.
func (s *Slot) Stream(ctx context.Context, token string) ([]*Tx, error) {
	err := pglogrepl.StartReplication(ctx, s.conn, SlotName, pglogrepl.LSN(s.ConsistentPoint), pglogrepl.StartReplicationOptions{
		PluginArgs: []string{"proto_version '1'", "publication_names '" + Publication + "'", "messages 'true'"},
	})
	if err != nil {
		return nil, fmt.Errorf("pgshop: start replication: %w", err)
	}
	st := &streamState{relations: map[uint32]*Table{}}
	flushed := pglogrepl.LSN(s.ConsistentPoint)
	nextStatus := time.Now().Add(time.Second)
	for {
		if time.Now().After(nextStatus) {
			if err := pglogrepl.SendStandbyStatusUpdate(ctx, s.conn, pglogrepl.StandbyStatusUpdate{WALWritePosition: flushed}); err != nil {
				return nil, fmt.Errorf("pgshop: standby status update: %w", err)
			}
			nextStatus = time.Now().Add(time.Second)
		}
		rctx, cancel := context.WithDeadline(ctx, nextStatus)
		raw, err := s.conn.ReceiveMessage(rctx)
		cancel()
		if err != nil {
			if pgconn.Timeout(err) && ctx.Err() == nil {
				continue
			}
			return nil, fmt.Errorf("pgshop: receive: %w", err)
		}
		switch m := raw.(type) {
		case *pgproto3.ErrorResponse:
			return nil, fmt.Errorf("pgshop: replication error: %s (%s)", m.Message, m.Code)
		case *pgproto3.CopyData:
			switch m.Data[0] {
			case pglogrepl.PrimaryKeepaliveMessageByteID:
				ka, err := pglogrepl.ParsePrimaryKeepaliveMessage(m.Data[1:])
				if err != nil {
					return nil, err
				}
				if ka.ReplyRequested {
					nextStatus = time.Time{}
				}
			case pglogrepl.XLogDataByteID:
				xld, err := pglogrepl.ParseXLogData(m.Data[1:])
				if err != nil {
					return nil, err
				}
				done, err := st.handle(xld, token)
				if err != nil {
					return nil, err
				}
				if st.lastEnd != 0 {
					flushed = pglogrepl.LSN(st.lastEnd)
				}
				if done {
					if st.cur != nil {
						return nil, errors.New("pgshop: marker inside a transaction")
					}
					return st.txs, nil
				}
			}
		}
	}
}

type streamState struct {
	relations map[uint32]*Table
	cur       *Tx
	txs       []*Tx
	lastEnd   uint64
}

func (st *streamState) handle(xld pglogrepl.XLogData, token string) (done bool, err error) {
	msg, err := pglogrepl.Parse(xld.WALData)
	if err != nil {
		return false, fmt.Errorf("pgshop: parse pgoutput message at %s: %w", xld.WALStart, err)
	}
	now := time.Now()
	switch m := msg.(type) {
	case *pglogrepl.RelationMessage:
		t := TableNamed(m.RelationName)
		if t == nil || m.Namespace != "public" {
			return false, fmt.Errorf("pgshop: relation %s.%s is not a shop table", m.Namespace, m.RelationName)
		}
		if len(m.Columns) != len(t.Columns) {
			return false, fmt.Errorf("pgshop: relation %s has %d columns, want %d", t.Name, len(m.Columns), len(t.Columns))
		}
		for i, c := range m.Columns {
			if c.Name != t.Columns[i].Name {
				return false, fmt.Errorf("pgshop: relation %s column %d is %s, want %s", t.Name, i, c.Name, t.Columns[i].Name)
			}
		}
		if m.ReplicaIdentity != 'f' {
			return false, fmt.Errorf("pgshop: relation %s has replica identity %q, want FULL", t.Name, m.ReplicaIdentity)
		}
		st.relations[m.RelationID] = t
	case *pglogrepl.BeginMessage:
		if st.cur != nil {
			return false, fmt.Errorf("pgshop: BEGIN of xid %d inside xid %d", m.Xid, st.cur.Xid)
		}
		st.cur = &Tx{Xid: m.Xid, CommitTime: m.CommitTime, CommitLSN: uint64(m.FinalLSN)}
	case *pglogrepl.InsertMessage:
		t, after, unchanged, err := st.tuple(m.RelationID, m.Tuple, nil)
		if err != nil {
			return false, err
		}
		if len(unchanged) > 0 {
			return false, fmt.Errorf("pgshop: insert into %s with unchanged TOAST values", t.Name)
		}
		return false, st.add(&Change{Table: t, Op: OpCreate, ID: after.Int(0), After: after, LSN: uint64(xld.WALStart), ReceivedAt: now})
	case *pglogrepl.UpdateMessage:
		if m.OldTupleType != 'O' || m.OldTuple == nil {
			return false, fmt.Errorf("pgshop: update at %s without the old row (replica identity FULL expected)", xld.WALStart)
		}
		t, before, unchanged, err := st.tuple(m.RelationID, m.OldTuple, nil)
		if err != nil {
			return false, err
		}
		if len(unchanged) > 0 {
			return false, fmt.Errorf("pgshop: old row of %s with unchanged TOAST values", t.Name)
		}
		_, after, unchanged, err := st.tuple(m.RelationID, m.NewTuple, before)
		if err != nil {
			return false, err
		}
		return false, st.add(&Change{Table: t, Op: OpUpdate, ID: after.Int(0), Before: before, After: after, Unchanged: unchanged, LSN: uint64(xld.WALStart), ReceivedAt: now})
	case *pglogrepl.DeleteMessage:
		if m.OldTupleType != 'O' || m.OldTuple == nil {
			return false, fmt.Errorf("pgshop: delete at %s without the old row (replica identity FULL expected)", xld.WALStart)
		}
		t, before, unchanged, err := st.tuple(m.RelationID, m.OldTuple, nil)
		if err != nil {
			return false, err
		}
		if len(unchanged) > 0 {
			return false, fmt.Errorf("pgshop: deleted row of %s with unchanged TOAST values", t.Name)
		}
		return false, st.add(&Change{Table: t, Op: OpDelete, ID: before.Int(0), Before: before, LSN: uint64(xld.WALStart), ReceivedAt: now})
	case *pglogrepl.CommitMessage:
		tx := st.cur
		if tx == nil {
			return false, fmt.Errorf("pgshop: COMMIT at %s outside a transaction", xld.WALStart)
		}
		if uint64(m.CommitLSN) != tx.CommitLSN {
			return false, fmt.Errorf("pgshop: xid %d: COMMIT at %s, BEGIN announced %s", tx.Xid, m.CommitLSN, pglogrepl.LSN(tx.CommitLSN))
		}
		// Debezium takes the LSN of the COMMIT message as it arrives
		// (stream.lastReceivedLsn(): the XLogData's WALStart), which the
		// walsender sets to the transaction's end LSN.
		tx.EndLSN = uint64(xld.WALStart)
		if tx.EndLSN != uint64(m.TransactionEndLSN) {
			return false, fmt.Errorf("pgshop: xid %d: COMMIT message at %s, end LSN %s", tx.Xid, xld.WALStart, m.TransactionEndLSN)
		}
		tx.LastCommitLSN = st.lastEnd
		st.lastEnd = tx.EndLSN
		st.txs = append(st.txs, tx)
		st.cur = nil
	case *pglogrepl.LogicalDecodingMessage:
		return m.Prefix == MarkerPrefix && string(m.Content) == token, nil
	case *pglogrepl.TruncateMessage:
		return false, fmt.Errorf("pgshop: unexpected TRUNCATE at %s", xld.WALStart)
	}
	return false, nil
}

func (st *streamState) add(c *Change) error {
	if st.cur == nil {
		return fmt.Errorf("pgshop: %s change at %s outside a transaction", c.Table.Name, FormatLSN(c.LSN))
	}
	c.Tx = st.cur
	st.cur.Changes = append(st.cur.Changes, c)
	return nil
}

// tuple converts a pgoutput tuple of relation id into a row. An unchanged
// TOAST value ('u') takes its value from old (the old row of an update)
// and is listed in unchanged; without old it is an error.
func (st *streamState) tuple(id uint32, td *pglogrepl.TupleData, old Row) (*Table, Row, []int, error) {
	t := st.relations[id]
	if t == nil {
		return nil, nil, nil, fmt.Errorf("pgshop: change of unknown relation %d", id)
	}
	if td == nil || len(td.Columns) != len(t.Columns) {
		return nil, nil, nil, fmt.Errorf("pgshop: %s tuple with the wrong number of columns", t.Name)
	}
	row := make(Row, len(t.Columns))
	var unchanged []int
	for i, col := range td.Columns {
		switch col.DataType {
		case pglogrepl.TupleDataTypeNull:
			row[i] = Value{Null: true}
		case pglogrepl.TupleDataTypeText:
			v, err := ParseText(t.Columns[i], string(col.Data))
			if err != nil {
				return nil, nil, nil, fmt.Errorf("pgshop: %s: %w", t.Name, err)
			}
			row[i] = v
		case pglogrepl.TupleDataTypeToast:
			if old == nil {
				return nil, nil, nil, fmt.Errorf("pgshop: %s.%s: unchanged TOAST value without an old row", t.Name, t.Columns[i].Name)
			}
			row[i] = old[i]
			unchanged = append(unchanged, i)
		default:
			return nil, nil, nil, fmt.Errorf("pgshop: %s.%s: tuple data type %q", t.Name, t.Columns[i].Name, col.DataType)
		}
	}
	return t, row, unchanged, nil
}
