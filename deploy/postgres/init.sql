-- The shop database that Debezium captures (CONTRACT section 1).
-- Run once by the postgres image on an empty data directory
-- (/docker-entrypoint-initdb.d); the server must run with wal_level=logical.

CREATE TABLE IF NOT EXISTS products (
    id             SERIAL PRIMARY KEY,
    name           VARCHAR(255)   NOT NULL,
    description    TEXT,
    price          DECIMAL(10,2)  NOT NULL,
    stock_quantity INTEGER        NOT NULL,
    created_at     TIMESTAMP      DEFAULT now(),
    updated_at     TIMESTAMP      DEFAULT now()
);

CREATE TABLE IF NOT EXISTS orders (
    id           SERIAL PRIMARY KEY,
    customer_id  INTEGER        NOT NULL,
    total_amount DECIMAL(10,2)  NOT NULL,
    status       VARCHAR(50)    NOT NULL,
    created_at   TIMESTAMP      DEFAULT now(),
    updated_at   TIMESTAMP      DEFAULT now()
);

CREATE TABLE IF NOT EXISTS order_items (
    id         SERIAL PRIMARY KEY,
    order_id   INTEGER,
    product_id INTEGER,
    quantity   INTEGER        NOT NULL,
    price      DECIMAL(10,2)  NOT NULL,
    created_at TIMESTAMP      DEFAULT now()
);

-- Debezium needs the whole old row in update and delete events.
ALTER TABLE products    REPLICA IDENTITY FULL;
ALTER TABLE orders      REPLICA IDENTITY FULL;
ALTER TABLE order_items REPLICA IDENTITY FULL;

-- Keep updated_at current on every update.
CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER products_set_updated_at BEFORE UPDATE ON products
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER orders_set_updated_at BEFORE UPDATE ON orders
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Seed data: products 1-5, orders 1-3, order_items 1-4.
INSERT INTO products (name, description, price, stock_quantity) VALUES
    ('Laptop',     'High-performance laptop with 16GB RAM and 512GB SSD', 999.99,  50),
    ('Mouse',      'Wireless optical mouse',                              29.99,  200),
    ('Keyboard',   'Mechanical keyboard with RGB backlight',              79.99,  150),
    ('Monitor',    '27-inch 4K UHD monitor',                              299.99, 75),
    ('Headphones', 'Noise-cancelling wireless headphones',                149.99, 100);

-- Each total is the sum of its lines (quantity x price).
INSERT INTO orders (customer_id, total_amount, status) VALUES
    (1001, 1059.97, 'completed'),  -- 1 Laptop + 2 Mouse
    (1002,   79.99, 'pending'),    -- 1 Keyboard
    (1001,  299.99, 'shipped');    -- 1 Monitor

INSERT INTO order_items (order_id, product_id, quantity, price) VALUES
    (1, 1, 1, 999.99),
    (1, 2, 2, 29.99),
    (2, 3, 1, 79.99),
    (3, 4, 1, 299.99);
