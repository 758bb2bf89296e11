package cdc

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/cdcflow/cdcflow/codecs/confluent"
	"github.com/cdcflow/cdcflow/codecs/debezium"
	fakesr "github.com/cdcflow/cdcflow/testkit/registry"
	"github.com/cdcflow/cdcflow/tools/dbzenc"
)

// typedRegister registers schemas of schemaType typ through the registry's
// REST API, as the JsonSchemaConverter does (schemaType JSON).
func typedRegister(srv *fakesr.Server, typ string) func(subject, schema string) (int32, error) {
	return func(subject, schema string) (int32, error) {
		body, _ := json.Marshal(map[string]string{"schema": schema, "schemaType": typ})
		resp, err := http.Post(srv.URL()+"/subjects/"+subject+"/versions", fakesr.ContentType, strings.NewReader(string(body)))
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		var reg struct{ ID int32 }
		if err := json.NewDecoder(resp.Body).Decode(&reg); err != nil || resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("register %s: status %d, %v", subject, resp.StatusCode, err)
		}
		return reg.ID, nil
	}
}

func encodeJSONSchema(t testing.TB, srv *fakesr.Server, format dbzenc.Format) (key, value []byte) {
	t.Helper()
	_, key, value, err := dbzenc.Encode(dbzenc.EncodeOptions{Format: format, Register: typedRegister(srv, "JSON")}, debezium.TableProducts,
		debezium.OpCreate, product.ID, nil, &product, dbzenc.Source{LSN: 0x1533_6A8, TsMs: 1736931600123, LastCommitLSN: 0x1533_000})
	if err != nil {
		t.Fatal(err)
	}
	return key, value
}

// TestJSONSchemaRecordsDecodeLikeJSON: a JsonSchemaConverter record (key
// framed too) reaches the handler as the same Message as its JSON
// envelope; each schema id is asked for once; the same input edge still
// reads Avro.
func TestJSONSchemaRecordsDecodeLikeJSON(t *testing.T) {
	h := newHarness(t, true)
	dec := debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: 2})
	for _, f := range []struct{ framed, json dbzenc.Format }{
		{dbzenc.FormatJSONSchema, dbzenc.FormatEnvelope}, {dbzenc.FormatJSONSchemaFlat, dbzenc.FormatFlat}, {dbzenc.FormatAvro, dbzenc.FormatEnvelope},
	} {
		var key, value []byte
		if f.framed.JSONSchema() {
			key, value = encodeJSONSchema(t, h.srv, f.framed)
		} else {
			key, value = encode(t, h.srv, f.framed)
		}
		if _, _, ok := confluent.Split(key); !ok {
			t.Fatalf("%s key is not framed", f.framed)
		}
		jk, jv := encode(t, h.srv, f.json)
		want, err := dec.Decode(products, jk, jv)
		if err != nil {
			t.Fatal(err)
		}
		h.handled = nil
		for range 3 {
			if c := h.handle(context.Background(), products, key, value); len(c.emitted) != 0 {
				t.Fatalf("%s: dead-lettered: %s", f.framed, h.log.String())
			}
		}
		if h.count() != 3 {
			t.Fatalf("%s: handled %d, want 3", f.framed, h.count())
		}
		for _, m := range h.handled {
			if m.ID != want.ID || m.Op != want.Op || m.Pos != want.Pos || m.Table != want.Table || m.AfterProduct == nil || *m.AfterProduct != *want.AfterProduct {
				t.Fatalf("%s message %+v (%+v), want %+v (%+v)", f.framed, m, m.AfterProduct, want, want.AfterProduct)
			}
		}
	}
	// Five ids: two JSON Schema values and their key, the Avro value and key.
	if n := h.srv.Requests("GET /schemas/ids/{id}"); n != 5 {
		t.Fatalf("%d registry requests for 5 schema ids, want 5", n)
	}
}

// TestJSONSchemaKeyAvroValue: an Avro value whose key went through the
// JsonSchemaConverter: the key is read as the JSON after its framing.
func TestJSONSchemaKeyAvroValue(t *testing.T) {
	h := newHarness(t, true)
	jsKey, _ := encodeJSONSchema(t, h.srv, dbzenc.FormatJSONSchema)
	_, value := encode(t, h.srv, dbzenc.FormatAvro)
	if c := h.handle(context.Background(), products, jsKey, value); len(c.emitted) != 0 || h.count() != 1 || h.handled[0].ID != product.ID {
		t.Fatalf("emitted %d, handled %d: %s", len(c.emitted), h.count(), h.log.String())
	}
}

// TestBadJSONSchemaRecordIsDeadLettered: a JSON Schema record whose value
// does not fit (a wrong type) goes to the dead-letter topic naming the
// field and the schema id.
func TestBadJSONSchemaRecordIsDeadLettered(t *testing.T) {
	h := newHarness(t, true)
	key, value := encodeJSONSchema(t, h.srv, dbzenc.FormatJSONSchema)
	id, payload, _ := confluent.Split(value)
	bad := strings.Replace(string(payload), `"stock_quantity":12`, `"stock_quantity":"twelve"`, 1)
	if bad == string(payload) {
		t.Fatal("no stock_quantity in the payload")
	}
	c := h.handle(context.Background(), products, key, confluent.Frame(id, []byte(bad)))
	if len(c.emitted) != 1 || h.count() != 0 {
		t.Fatalf("emitted %d, handled %d", len(c.emitted), h.count())
	}
	if logged := h.log.String(); !strings.Contains(logged, fmt.Sprintf("decode json schema (schema id %d)", id)) || !strings.Contains(logged, "after.stock_quantity") {
		t.Fatalf("logged %q", logged)
	}
}
