package dbzenc

import "github.com/cdcflow/cdcflow/codecs/debezium"

// This file is the encoder's own description of the shop's three source
// tables (CONTRACT §1), written from the contract's DDL and the Connect
// schemas of the reference samples (samples/envelope.jsonl, flat.jsonl).
// It deliberately shares nothing with the decoder's table description in
// codecs/debezium, so that a wrong idea in one shows up as a failing round
// trip instead of agreeing with itself.

// valueKind is how a column is rendered.
type valueKind uint8

const (
	vInt   valueKind = iota + 1 // INTEGER / SERIAL: Connect int32
	vText                       // VARCHAR / TEXT: Connect string
	vMoney                      // DECIMAL(10,2): per DecimalMode
	vTime                       // TIMESTAMP: per TimeMode
)

// columnSpec is one column as the PostgreSQL connector describes it.
type columnSpec struct {
	name string
	kind valueKind
	// optional is the "optional" flag of the column's Connect schema, as
	// the samples print it. (Debezium prints it from the column's
	// nullability as the connector saw it; the samples have customer_id,
	// total_amount, status and quantity optional although the DDL says NOT
	// NULL, and the encoder reproduces that.)
	optional bool
	// primaryKey marks the SERIAL key, printed with "default":0.
	primaryKey bool
	// zeroIsNull renders the Go zero value (0 or "") as JSON null: the
	// nullable columns whose row struct has no other way to say NULL.
	zeroIsNull bool
}

// tableSpec is one source table: its name and its columns in the
// connector's order (the table's column order).
type tableSpec struct {
	name string
	cols []columnSpec
}

// The three tables, in the column order of the DDL in CONTRACT §1.
var (
	productsSpec = tableSpec{name: debezium.TableProducts, cols: []columnSpec{
		{name: "id", kind: vInt, primaryKey: true},
		{name: "name", kind: vText},
		{name: "description", kind: vText, optional: true, zeroIsNull: true},
		{name: "price", kind: vMoney},
		{name: "stock_quantity", kind: vInt, optional: true},
		{name: "created_at", kind: vTime, optional: true, zeroIsNull: true},
		{name: "updated_at", kind: vTime, optional: true, zeroIsNull: true},
	}}
	ordersSpec = tableSpec{name: debezium.TableOrders, cols: []columnSpec{
		{name: "id", kind: vInt, primaryKey: true},
		{name: "customer_id", kind: vInt, optional: true},
		{name: "total_amount", kind: vMoney, optional: true},
		{name: "status", kind: vText, optional: true},
		{name: "created_at", kind: vTime, optional: true, zeroIsNull: true},
		{name: "updated_at", kind: vTime, optional: true, zeroIsNull: true},
	}}
	orderItemsSpec = tableSpec{name: debezium.TableOrderItems, cols: []columnSpec{
		{name: "id", kind: vInt, primaryKey: true},
		{name: "order_id", kind: vInt, optional: true, zeroIsNull: true},
		{name: "product_id", kind: vInt, optional: true, zeroIsNull: true},
		{name: "quantity", kind: vInt, optional: true},
		{name: "price", kind: vMoney},
		{name: "created_at", kind: vTime, optional: true, zeroIsNull: true},
	}}
)

// specFor returns the description of a table, or nil when it is not one of
// the shop's.
func specFor(table string) *tableSpec {
	switch table {
	case debezium.TableProducts:
		return &productsSpec
	case debezium.TableOrders:
		return &ordersSpec
	case debezium.TableOrderItems:
		return &orderItemsSpec
	}
	return nil
}

// maxColumns is the widest table's column count.
const maxColumns = 7

// value is one column's value: integers, money cents and timestamps (µs)
// in num, text in text.
type value struct {
	num  int64
	text string
}

// rowValues is a row as the encoder renders it, indexed like the table's
// columns.
type rowValues [maxColumns]value

// valuesOf converts a typed row into column values. ok is false when row
// is not the row type of table (a *debezium.Product, *debezium.Order or
// *debezium.OrderItem); a nil interface or nil pointer gives present false.
func valuesOf(table string, row any) (v rowValues, present, ok bool) {
	if row == nil {
		return v, false, true
	}
	switch table {
	case debezium.TableProducts:
		r, isType := row.(*debezium.Product)
		if !isType {
			return v, false, false
		}
		if r == nil {
			return v, false, true
		}
		v[0].num, v[1].text, v[2].text, v[3].num = r.ID, r.Name, r.Description, r.PriceCents
		v[4].num, v[5].num, v[6].num = r.StockQuantity, r.CreatedAt, r.UpdatedAt
	case debezium.TableOrders:
		r, isType := row.(*debezium.Order)
		if !isType {
			return v, false, false
		}
		if r == nil {
			return v, false, true
		}
		v[0].num, v[1].num, v[2].num, v[3].text = r.ID, r.CustomerID, r.TotalCents, r.Status
		v[4].num, v[5].num = r.CreatedAt, r.UpdatedAt
	case debezium.TableOrderItems:
		r, isType := row.(*debezium.OrderItem)
		if !isType {
			return v, false, false
		}
		if r == nil {
			return v, false, true
		}
		v[0].num, v[1].num, v[2].num, v[3].num = r.ID, r.OrderID, r.ProductID, r.Quantity
		v[4].num, v[5].num = r.PriceCents, r.CreatedAt
	default:
		return v, false, false
	}
	return v, true, true
}
