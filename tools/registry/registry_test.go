package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
)

// New starts a registry for one test and closes it when the test ends.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := Start(opts)
	if err != nil {
		t.Fatalf("schema registry: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// get fetches path and returns the status and the body decoded as JSON.
func get(t *testing.T, url string, user ...string) (int, any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if len(user) == 2 {
		req.SetBasicAuth(user[0], user[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return resp.StatusCode, string(body)
	}
	return resp.StatusCode, v
}

func fixture(t *testing.T, name string) any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func post(t *testing.T, url, body string) (int, any) {
	t.Helper()
	resp, err := http.Post(url, ContentType, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v any
	json.NewDecoder(resp.Body).Decode(&v)
	return resp.StatusCode, v
}

// TestAnswersMatchTheRealRegistry compares the fake's answers with the
// registry's own (testdata/README.md says where each comes from).
func TestAnswersMatchTheRealRegistry(t *testing.T) {
	s := New(t, Options{})
	if code, v := post(t, s.URL()+"/subjects/subject1/versions", `{"schema":"{\"type\": \"string\"}"}`); code != 200 || !reflect.DeepEqual(v, fixture(t, "register.json")) {
		t.Fatalf("register: %d %v", code, v)
	}
	if code, v := get(t, s.URL()+"/schemas/ids/1"); code != 200 || !reflect.DeepEqual(v, fixture(t, "schema_by_id.json")) {
		t.Fatalf("schema by id: %d %v", code, v)
	}
	// The same schema (other spacing) under another subject: same id.
	if code, v := post(t, s.URL()+"/subjects/subject2/versions", `{"schema":"{\"type\":\"string\"}"}`); code != 200 || !reflect.DeepEqual(v, fixture(t, "register.json")) {
		t.Fatalf("register again: %d %v", code, v)
	}
	if code, v := get(t, s.URL()+"/subjects"); code != 200 || !reflect.DeepEqual(v, fixture(t, "subjects.json")) {
		t.Fatalf("subjects: %d %v", code, v)
	}
	if code, v := get(t, s.URL()+"/schemas/ids/42"); code != 404 || !reflect.DeepEqual(v, fixture(t, "schema_not_found.json")) {
		t.Fatalf("unknown id: %d %v", code, v)
	}
	if code, v := get(t, s.URL()+"/subjects/nope-value/versions"); code != 404 || !reflect.DeepEqual(v, fixture(t, "subject_not_found.json")) {
		t.Fatalf("unknown subject: %d %v", code, v)
	}
	// ?subject limits the lookup to the subject's schemas.
	if code, _ := get(t, s.URL()+"/schemas/ids/1?subject=subject2"); code != 200 {
		t.Fatalf("id 1 in subject2: %d", code)
	}
	if code, _ := get(t, s.URL()+"/schemas/ids/1?subject=other"); code != 404 {
		t.Fatalf("id 1 in another subject: %d", code)
	}
	if code, v := get(t, s.URL()+"/schemas/ids/1/schema"); code != 200 || !reflect.DeepEqual(v, map[string]any{"type": "string"}) {
		t.Fatalf("schema text: %d %v", code, v)
	}
	// A new schema gets the next id.
	if id, err := s.Register("subject1", `{"type":"int"}`); err != nil || id != 2 {
		t.Fatalf("second schema: %d %v", id, err)
	}
	if code, v := get(t, s.URL()+"/subjects/subject1/versions"); code != 200 || !reflect.DeepEqual(v, []any{1.0, 2.0}) {
		t.Fatalf("versions: %d %v", code, v)
	}
}

// TestFranzGoClient: franz-go's sr client (what the services use) reads the
// fake's answers and errors as a real registry's.
func TestFranzGoClient(t *testing.T) {
	s := New(t, Options{})
	cl, err := sr.NewClient(sr.URLs(s.URL()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id, err := cl.RegisterSchema(ctx, "t-value", sr.Schema{Schema: `{"type":"long"}`}, -1, -1)
	if err != nil || id != 1 {
		t.Fatalf("register: %d %v", id, err)
	}
	sc, err := cl.SchemaByID(ctx, id)
	if err != nil || sc.Schema != `{"type":"long"}` || sc.Type != sr.TypeAvro {
		t.Fatalf("by id: %+v %v", sc, err)
	}
	subjects, err := cl.Subjects(ctx)
	if err != nil || !reflect.DeepEqual(subjects, []string{"t-value"}) {
		t.Fatalf("subjects: %v %v", subjects, err)
	}
	_, err = cl.SchemaByID(ctx, 42)
	var re *sr.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 404 || re.ErrorCode != 40403 || re.Message != "Schema 42 not found" || re.SchemaError() != sr.ErrSchemaNotFound {
		t.Fatalf("unknown id: %#v", err)
	}
}

// TestAuthAndFailures: basic auth, Fail, Hang, Stop and Resume.
func TestAuthAndFailures(t *testing.T) {
	s := New(t, Options{Username: "u", Password: "p"})
	if code, v := get(t, s.URL()+"/subjects"); code != 401 || !reflect.DeepEqual(v, fixture(t, "unauthorized.json")) {
		t.Fatalf("no credentials: %d %v", code, v)
	}
	if code, _ := get(t, s.URL()+"/subjects", "u", "wrong"); code != 401 {
		t.Fatalf("wrong password: %d", code)
	}
	if code, _ := get(t, s.URL()+"/subjects", "u", "p"); code != 200 {
		t.Fatalf("credentials: %d", code)
	}
	s.Fail(503)
	if code, _ := get(t, s.URL()+"/subjects", "u", "p"); code != 503 {
		t.Fatalf("failing: %d", code)
	}
	s.Fail(500)
	if code, v := get(t, s.URL()+"/subjects", "u", "p"); code != 500 || v.(map[string]any)["error_code"] != 50001.0 {
		t.Fatalf("failing: %d %v", code, v)
	}
	s.Fail(0)
	s.Hang(true)
	cl := &http.Client{Timeout: 100 * time.Millisecond}
	if _, err := cl.Get(s.URL() + "/subjects"); err == nil {
		t.Fatal("hanging registry answered")
	}
	s.Hang(false)
	s.Stop()
	if _, err := http.Get(s.URL() + "/subjects"); err == nil {
		t.Fatal("stopped registry answered")
	}
	if err := s.Resume(); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, s.URL()+"/subjects", "u", "p"); code != 200 {
		t.Fatalf("resumed: %d", code)
	}
	if n := s.Requests("GET /subjects"); n != 7 {
		t.Fatalf("%d requests counted, want 7", n)
	}
}

// TestRegistrar registers through the REST protocol once per subject and
// schema, and gets the registry's ids.
func TestRegistrar(t *testing.T) {
	s := New(t, Options{})
	reg := Registrar(s.URL(), RegistrarOptions{})
	a, err := reg("t-value", `{"type": "string"}`)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if b, err := reg("t-value", `{"type": "string"}`); err != nil || b != a {
			t.Fatalf("again: %d, %v; want %d", b, err, a)
		}
	}
	if c, err := reg("t-key", `{"type":"long"}`); err != nil || c == a {
		t.Fatalf("another schema: %d, %v", c, err)
	}
	if n := s.Requests("POST /subjects/{subject}/versions"); n != 2 {
		t.Fatalf("%d registrations sent, want 2", n)
	}
	if id, err := s.Register("t-value", `{"type":"string"}`); err != nil || id != a {
		t.Fatalf("the registry has id %d for the schema, the registrar %d", id, a)
	}
	if _, err := reg("x-value", `not json`); err == nil {
		t.Fatal("an invalid schema registered")
	}
}
