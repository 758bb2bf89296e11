package pgshop

// Schema creates the shop's tables (CONTRACT §1, as deploy/postgres/init.sql)
// with what a realistic deployment adds: foreign keys (a deleted order
// takes its lines along, a deleted product leaves its lines with a NULL
// product_id), indexes for them, updated_at triggers, REPLICA IDENTITY
// FULL, and products.description stored EXTERNAL, so that a long
// description (over about 2 KB) is TOASTed out of line, uncompressed, and
// an update that leaves it alone carries it as an unchanged TOAST value.
// The publication is the one Debezium creates (publication.autocreate.mode
// filtered) under its default name.
const Schema = `
CREATE TABLE products (
    id             SERIAL PRIMARY KEY,
    name           VARCHAR(255)   NOT NULL,
    description    TEXT,
    price          DECIMAL(10,2)  NOT NULL,
    stock_quantity INTEGER        NOT NULL,
    created_at     TIMESTAMP      DEFAULT now(),
    updated_at     TIMESTAMP      DEFAULT now()
);
ALTER TABLE products ALTER COLUMN description SET STORAGE EXTERNAL;

CREATE TABLE orders (
    id           SERIAL PRIMARY KEY,
    customer_id  INTEGER        NOT NULL,
    total_amount DECIMAL(10,2)  NOT NULL,
    status       VARCHAR(50)    NOT NULL,
    created_at   TIMESTAMP      DEFAULT now(),
    updated_at   TIMESTAMP      DEFAULT now()
);

CREATE TABLE order_items (
    id         SERIAL PRIMARY KEY,
    order_id   INTEGER REFERENCES orders(id) ON DELETE CASCADE,
    product_id INTEGER REFERENCES products(id) ON DELETE SET NULL,
    quantity   INTEGER        NOT NULL,
    price      DECIMAL(10,2)  NOT NULL,
    created_at TIMESTAMP      DEFAULT now()
);
CREATE INDEX order_items_order_id ON order_items (order_id);
CREATE INDEX order_items_product_id ON order_items (product_id);

ALTER TABLE products    REPLICA IDENTITY FULL;
ALTER TABLE orders      REPLICA IDENTITY FULL;
ALTER TABLE order_items REPLICA IDENTITY FULL;

CREATE FUNCTION set_updated_at() RETURNS trigger AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER products_set_updated_at BEFORE UPDATE ON products
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER orders_set_updated_at BEFORE UPDATE ON orders
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE PUBLICATION dbz_publication FOR TABLE products, orders, order_items;
`

// Publication and SlotName are Debezium's defaults.
const (
	Publication = "dbz_publication"
	SlotName    = "debezium"
)
