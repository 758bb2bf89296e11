package debezium

// This file describes the three source tables as the decoder reads them.
// Everything here is read-only after package initialisation. (The encoder
// used by simulators and tests, tools/dbzenc, has its own description on
// purpose.)

// colKind is how a column's value is represented.
type colKind uint8

const (
	ckInt      colKind = iota + 1 // INTEGER / SERIAL (JSON integer)
	ckIntNull                     // nullable INTEGER foreign key: 0 means NULL
	ckText                        // VARCHAR NOT NULL
	ckTextNull                    // nullable TEXT/VARCHAR: "" means NULL
	ckMoney                       // DECIMAL(10,2): int64 cents
	ckTime                        // TIMESTAMP: Unix microseconds UTC, 0 means NULL
)

// column describes one column of a source table.
type column struct {
	name string
	kind colKind
	// required marks NOT NULL columns: they must be present and non-null in
	// the row image of an r/c/u change.
	required bool
}

// tableDef describes one source table.
type tableDef struct {
	name string
	cols []column
}

// Table indexes into tableDefs.
const (
	tiProducts   = 0
	tiOrders     = 1
	tiOrderItems = 2
	numTables    = 3
	maxCols      = 7
)

// Column indexes, per table, in Debezium's column order.
const (
	pID, pName, pDescription, pPrice, pStock, pCreated, pUpdated = 0, 1, 2, 3, 4, 5, 6
	oID, oCustomer, oTotal, oStatus, oCreated, oUpdated          = 0, 1, 2, 3, 4, 5
	iID, iOrder, iProduct, iQuantity, iPrice, iCreated           = 0, 1, 2, 3, 4, 5
)

// tableDefs is the read-only description of the shop's tables.
var tableDefs = [numTables]tableDef{
	tiProducts: {name: TableProducts, cols: []column{
		{name: "id", kind: ckInt, required: true},
		{name: "name", kind: ckText, required: true},
		{name: "description", kind: ckTextNull},
		{name: "price", kind: ckMoney, required: true},
		{name: "stock_quantity", kind: ckInt, required: true},
		{name: "created_at", kind: ckTime},
		{name: "updated_at", kind: ckTime},
	}},
	tiOrders: {name: TableOrders, cols: []column{
		{name: "id", kind: ckInt, required: true},
		{name: "customer_id", kind: ckInt, required: true},
		{name: "total_amount", kind: ckMoney, required: true},
		{name: "status", kind: ckText, required: true},
		{name: "created_at", kind: ckTime},
		{name: "updated_at", kind: ckTime},
	}},
	tiOrderItems: {name: TableOrderItems, cols: []column{
		{name: "id", kind: ckInt, required: true},
		{name: "order_id", kind: ckIntNull},
		{name: "product_id", kind: ckIntNull},
		{name: "quantity", kind: ckInt, required: true},
		{name: "price", kind: ckMoney, required: true},
		{name: "created_at", kind: ckTime},
	}},
}

// tableIndex maps a table name to its index in tableDefs, or -1.
func tableIndex(name []byte) int {
	switch string(name) {
	case TableProducts:
		return tiProducts
	case TableOrders:
		return tiOrders
	case TableOrderItems:
		return tiOrderItems
	}
	return -1
}

// tableIndexString is tableIndex for a string.
func tableIndexString(name string) int {
	switch name {
	case TableProducts:
		return tiProducts
	case TableOrders:
		return tiOrders
	case TableOrderItems:
		return tiOrderItems
	}
	return -1
}

// columnIndex maps a column name of table ti to its index, or -1.
func columnIndex(ti int, name []byte) int {
	switch ti {
	case tiProducts:
		switch string(name) {
		case "id":
			return pID
		case "name":
			return pName
		case "description":
			return pDescription
		case "price":
			return pPrice
		case "stock_quantity":
			return pStock
		case "created_at":
			return pCreated
		case "updated_at":
			return pUpdated
		}
	case tiOrders:
		switch string(name) {
		case "id":
			return oID
		case "customer_id":
			return oCustomer
		case "total_amount":
			return oTotal
		case "status":
			return oStatus
		case "created_at":
			return oCreated
		case "updated_at":
			return oUpdated
		}
	case tiOrderItems:
		switch string(name) {
		case "id":
			return iID
		case "order_id":
			return iOrder
		case "product_id":
			return iProduct
		case "quantity":
			return iQuantity
		case "price":
			return iPrice
		case "created_at":
			return iCreated
		}
	}
	return -1
}
