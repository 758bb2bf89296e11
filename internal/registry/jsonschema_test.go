package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	fake "github.com/cdcflow/cdcflow/testkit/registry"
)

// registerTyped registers a schema of schemaType through the registry's
// REST API (POST /subjects/{subject}/versions), as a converter does.
func registerTyped(t *testing.T, url, subject, typ, text string) int32 {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"schema": text, "schemaType": typ})
	resp, err := http.Post(url+"/subjects/"+subject+"/versions", fake.ContentType, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var reg struct{ ID int32 }
	if err := json.NewDecoder(resp.Body).Decode(&reg); err != nil || resp.StatusCode != http.StatusOK || reg.ID == 0 {
		t.Fatalf("register %s %s: status %d, %v", subject, typ, resp.StatusCode, err)
	}
	return reg.ID
}

// typedParsed is what the tests' ParseTyped returns.
type typedParsed struct{ typ, text string }

func parseTyped(typ, text string) (*typedParsed, error) {
	if typ == "PROTOBUF" {
		return &typedParsed{typ: typ, text: text}, nil
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if typ == "JSON" && v["type"] != "object" {
		return nil, errors.New("not an object schema")
	}
	return &typedParsed{typ: typ, text: text}, nil
}

const jsonValueSchema = `{"type":"object","title":"dbserver1.public.products.Value","properties":{"id":{"type":"integer","connect.type":"int32","connect.index":0}}}`

// TestJSONSchemaType: with ParseTyped one client returns Avro and JSON
// Schema ids, each parsed with its type and cached (one request per id);
// a Protobuf schema is passed to ParseTyped as "PROTOBUF"; a JSON Schema
// that does not parse or uses references. Without ParseTyped, a JSON
// Schema is refused as before.
func TestJSONSchemaType(t *testing.T) {
	srv := fake.New(t, fake.Options{})
	avroID := register(t, srv, "dbserver1.public.products-key", keySchema)
	jsonID := registerTyped(t, srv.URL(), "dbserver1.public.products-value", "JSON", jsonValueSchema)
	badJSON := registerTyped(t, srv.URL(), "x-value", "JSON", `{"type":"string"}`)
	protoID := registerTyped(t, srv.URL(), "p-value", "PROTOBUF", `syntax = "proto3"; message M {}`)
	if jsonID == avroID {
		t.Fatal("same id")
	}

	c, err := New(Options[*typedParsed]{URLs: []string{srv.URL()}, ParseTyped: parseTyped, NotFoundDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		s, err := c.Schema(context.Background(), jsonID)
		if err != nil || s.typ != "JSON" || s.text != jsonValueSchema {
			t.Fatalf("json: %+v %v", s, err)
		}
		s, err = c.Schema(context.Background(), avroID)
		if err != nil || s.typ != "AVRO" || s.text != keySchema {
			t.Fatalf("avro: %+v %v", s, err)
		}
		if s, err := c.Schema(context.Background(), protoID); err != nil || s.typ != "PROTOBUF" {
			t.Fatalf("protobuf: %+v %v", s, err)
		}
		if _, err := c.Schema(context.Background(), badJSON); !IsPermanent(err) || class(err) != ClassInvalidSchema || !strings.Contains(err.Error(), "cannot read the registry's schema: not an object schema") {
			t.Fatalf("bad json schema: %v", err)
		}
	}
	if n := srv.Requests(byID); n != 4 {
		t.Fatalf("%d requests for 4 ids asked 3 times each, want 4", n)
	}
	if c.Cached() != 3 {
		t.Fatalf("%d cached, want 3", c.Cached())
	}

	// The Avro-only client (Parse) refuses JSON Schema as before.
	old, err := New(Options[*parsed]{URLs: []string{srv.URL()}, Parse: parse, NotFoundDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Schema(context.Background(), jsonID); !IsPermanent(err) || !strings.Contains(err.Error(), "JSON schema, not Avro") {
		t.Fatalf("avro-only client, json schema: %v", err)
	}
}

// TestJSONSchemaTransient: a JSON Schema lookup during an outage is
// transient like any other (the classification does not depend on the
// type), and succeeds once the registry is back.
func TestJSONSchemaTransient(t *testing.T) {
	srv := fake.New(t, fake.Options{})
	id := registerTyped(t, srv.URL(), "dbserver1.public.products-value", "JSON", jsonValueSchema)
	c, err := New(Options[*typedParsed]{URLs: []string{srv.URL()}, ParseTyped: parseTyped, NotFoundDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	srv.Fail(http.StatusServiceUnavailable)
	if _, err := c.Schema(context.Background(), id); err == nil || IsPermanent(err) || class(err) != ClassServer {
		t.Fatalf("503: %v (class %s), want transient server", err, class(err))
	}
	srv.Fail(0)
	if s, err := c.Schema(context.Background(), id); err != nil || s.typ != "JSON" {
		t.Fatalf("after the outage: %+v %v", s, err)
	}
}
