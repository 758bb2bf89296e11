package state

import (
	"errors"
	"testing"

	"github.com/cdcflow/cdcflow/codecs/debezium"
)

func TestRowsRoundTrip(t *testing.T) {
	p := debezium.Product{ID: 7, Name: "Crème brûlée torch", Description: "", PriceCents: -1, StockQuantity: 1 << 40, CreatedAt: 1736931600000000, UpdatedAt: 0}
	o := debezium.Order{ID: 1 << 33, CustomerID: 4998, TotalCents: 9223372036854775807, Status: "pending", CreatedAt: -5}
	it := debezium.OrderItem{ID: 3, OrderID: 0, ProductID: 0, Quantity: -2, PriceCents: 189057}
	w := NewWriter(nil)
	w.Product(&p)
	w.Order(&o)
	w.OrderItem(&it)
	w.Bool(true)
	w.Blob(nil)
	r := NewReader(w.Bytes())
	if got := r.Product(); got != p {
		t.Fatalf("product %+v, want %+v", got, p)
	}
	if got := r.Order(); got != o {
		t.Fatalf("order %+v, want %+v", got, o)
	}
	if got := r.OrderItem(); got != it {
		t.Fatalf("item %+v, want %+v", got, it)
	}
	if !r.Bool() || r.Blob() != nil {
		t.Fatal("bool/blob")
	}
	if err := r.Done(); err != nil {
		t.Fatal(err)
	}
	// Every truncation is an error, never a panic or a silent zero row.
	b := w.Bytes()
	for n := 0; n < len(b); n++ {
		r := NewReader(b[:n])
		r.Product()
		r.Order()
		r.OrderItem()
		r.Bool()
		r.Blob()
		if err := r.Done(); !errors.Is(err, ErrShort) {
			t.Fatalf("truncated at %d: err %v", n, err)
		}
	}
	if err := NewReader(append(b, 0)).Done(); err == nil {
		t.Fatal("trailing bytes accepted")
	}
}
