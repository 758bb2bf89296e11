// Package registry is a development Confluent Schema Registry (as
// tools/embedded holds Kafka and S3 for cdc-local and the tests): an HTTP
// server on loopback speaking the registry's REST protocol for what the
// services and the encoders use, keeping its schemas in memory, with the registry's own answers and error
// bodies (testdata/ holds real responses it is checked against), optional
// basic auth, and switches to make it fail (an HTTP status, hanging
// requests, or stopped altogether) for outage tests.
//
// Endpoints:
//
//	GET  /schemas/ids/{id}[?subject=s]      {"schema":"…"} (plus "schemaType" when not AVRO)
//	GET  /schemas/ids/{id}/schema           the schema's text
//	POST /subjects/{subject}/versions       {"schema":"…"[,"schemaType":"…"]} → {"id":N}; the same schema gets the same id
//	GET  /subjects                          ["subject", …]
//	GET  /subjects/{subject}/versions       [1, 2, …]
//
// Errors are the registry's: {"error_code":40403,"message":"Schema 42 not
// found"}, {"error_code":40401,"message":"Subject 'x' not found."},
// {"error_code":401,"message":"Unauthorized"}, and for other paths
// {"error_code":404,"message":"HTTP 404 Not Found"}.
package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ContentType is the registry's media type.
const ContentType = "application/vnd.schemaregistry.v1+json"

// Options configures Start.
type Options struct {
	// Username and Password, when Username is set, are required as basic
	// auth on every request; others get 401.
	Username, Password string
}

type schema struct {
	text, typ string // typ "" for AVRO
}

// Server is a running fake registry; it is safe for concurrent use.
type Server struct {
	opts Options
	addr string

	mu       sync.Mutex
	ids      []schema         // id-1 → schema
	byKey    map[string]int32 // canonical text + type → id
	subjects map[string][]int32
	status   int           // when non-zero, every request answers it
	hang     chan struct{} // when non-nil, requests wait until it is closed (or their client gives up)
	requests map[string]int
	ln       net.Listener
	hs       *http.Server
}

// Start starts a registry on a free port of 127.0.0.1.
func Start(opts Options) (*Server, error) {
	s := &Server{opts: opts, byKey: map[string]int32{}, subjects: map[string][]int32{}, requests: map[string]int{}}
	if err := s.listen("127.0.0.1:0"); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) listen(addr string) error {
	var ln net.Listener
	var err error
	for range 50 { // the port of a stopped server may take a moment to be free again
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 5 * time.Second}
	s.mu.Lock()
	s.ln, s.hs, s.addr = ln, hs, ln.Addr().String()
	s.mu.Unlock()
	go hs.Serve(ln) //nolint:errcheck // ends with Stop or Close
	return nil
}

// Handler is the registry's HTTP handler, for serving it elsewhere (behind
// TLS in tests: httptest.NewTLSServer(s.Handler())).
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serve) }

// URL is the registry's base URL.
func (s *Server) URL() string { return "http://" + s.addr }

// Stop stops serving: connections are refused until Resume. The schemas
// are kept.
func (s *Server) Stop() {
	s.mu.Lock()
	hs, hang := s.hs, s.hang
	s.hs, s.ln, s.hang = nil, nil, nil
	s.mu.Unlock()
	if hang != nil {
		close(hang)
	}
	if hs != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if hs.Shutdown(ctx) != nil {
			hs.Close()
		}
	}
}

// Resume serves again on the same address after Stop.
func (s *Server) Resume() error {
	s.mu.Lock()
	running := s.hs != nil
	s.mu.Unlock()
	if running {
		return nil
	}
	return s.listen(s.addr)
}

// Close stops the server for good.
func (s *Server) Close() { s.Stop() }

// Fail makes every request answer status (with the registry's error body
// for it) until Fail(0).
func (s *Server) Fail(status int) {
	s.mu.Lock()
	s.status = status
	s.mu.Unlock()
}

// Hang makes every request wait without an answer until Hang(false) (or
// its client gives up).
func (s *Server) Hang(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case on && s.hang == nil:
		s.hang = make(chan struct{})
	case !on && s.hang != nil:
		close(s.hang)
		s.hang = nil
	}
}

// Requests is the number of requests served for a route: "GET /schemas/ids/{id}",
// "POST /subjects/{subject}/versions", "GET /subjects", …, counted
// whatever they were answered (failures included).
func (s *Server) Requests(route string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[route]
}

// Register registers schemaText (Avro) under subject as a POST
// /subjects/{subject}/versions would, and returns its id. It has the
// signature of the encoders' register callback.
func (s *Server) Register(subject, schemaText string) (int32, error) {
	return s.register(subject, schemaText, "")
}

func (s *Server) register(subject, text, typ string) (int32, error) {
	if typ == "AVRO" {
		typ = ""
	}
	key := text
	if typ != "PROTOBUF" { // Avro and JSON Schema are JSON
		var err error
		if key, err = canonical(text); err != nil {
			return 0, err
		}
	}
	key = typ + "\x00" + key
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.byKey[key]
	if !ok {
		s.ids = append(s.ids, schema{text: text, typ: typ})
		id = int32(len(s.ids))
		s.byKey[key] = id
	}
	if !slices.Contains(s.subjects[subject], id) {
		s.subjects[subject] = append(s.subjects[subject], id)
	}
	return id, nil
}

// canonical compacts a JSON schema text so that the same schema written
// with other spacing gets the same id (the registry compares parsed
// schemas; this is enough for the tests).
func canonical(text string) (string, error) {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(text)); err != nil {
		return "", fmt.Errorf("invalid schema: %w", err)
	}
	return b.String(), nil
}

type errorBody struct {
	ErrorCode int    `json:"error_code"`
	Message   string `json:"message"`
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status, code int, msg string) {
	reply(w, status, errorBody{ErrorCode: code, Message: msg})
}

// route names the request's route for Requests.
func route(r *http.Request) string {
	p := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case len(p) == 3 && p[0] == "schemas" && p[1] == "ids":
		return r.Method + " /schemas/ids/{id}"
	case len(p) == 4 && p[0] == "schemas" && p[1] == "ids" && p[3] == "schema":
		return r.Method + " /schemas/ids/{id}/schema"
	case len(p) == 1 && p[0] == "subjects":
		return r.Method + " /subjects"
	case len(p) == 3 && p[0] == "subjects" && p[2] == "versions":
		return r.Method + " /subjects/{subject}/versions"
	}
	return r.Method + " " + r.URL.Path
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	rt := route(r)
	s.mu.Lock()
	s.requests[rt]++
	status, hang := s.status, s.hang
	s.mu.Unlock()
	if hang != nil {
		select {
		case <-hang:
		case <-r.Context().Done():
			return
		}
	}
	if status != 0 {
		switch {
		case status == http.StatusServiceUnavailable:
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(status)
			_, _ = w.Write([]byte("no healthy upstream")) // what a proxy in front of a down registry says
		case status >= 500:
			fail(w, status, 50001, "Error in the backend data store")
		default:
			fail(w, status, status, http.StatusText(status))
		}
		return
	}
	if s.opts.Username != "" {
		u, p, ok := r.BasicAuth()
		if !ok || u != s.opts.Username || p != s.opts.Password {
			fail(w, http.StatusUnauthorized, 401, "Unauthorized")
			return
		}
	}
	p := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch rt {
	case "GET /schemas/ids/{id}", "GET /schemas/ids/{id}/schema":
		s.schemaByID(w, r, p[2], len(p) == 4)
	case "POST /subjects/{subject}/versions":
		var req struct {
			Schema string `json:"schema"`
			Type   string `json:"schemaType"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Schema == "" {
			fail(w, http.StatusUnprocessableEntity, 42201, "Either the input schema or one its references is invalid")
			return
		}
		id, err := s.register(p[1], req.Schema, strings.ToUpper(req.Type))
		if err != nil {
			fail(w, http.StatusUnprocessableEntity, 42201, "Invalid schema "+err.Error())
			return
		}
		reply(w, http.StatusOK, map[string]int32{"id": id})
	case "GET /subjects":
		s.mu.Lock()
		names := make([]string, 0, len(s.subjects))
		for n := range s.subjects {
			names = append(names, n)
		}
		s.mu.Unlock()
		sort.Strings(names)
		reply(w, http.StatusOK, names)
	case "GET /subjects/{subject}/versions":
		s.mu.Lock()
		ids, ok := s.subjects[p[1]]
		s.mu.Unlock()
		if !ok {
			fail(w, http.StatusNotFound, 40401, fmt.Sprintf("Subject '%s' not found.", p[1]))
			return
		}
		versions := make([]int, len(ids))
		for i := range ids {
			versions[i] = i + 1
		}
		reply(w, http.StatusOK, versions)
	default:
		fail(w, http.StatusNotFound, 404, "HTTP 404 Not Found")
	}
}

func (s *Server) schemaByID(w http.ResponseWriter, r *http.Request, idText string, textOnly bool) {
	id, err := strconv.ParseInt(idText, 10, 32)
	if err != nil {
		fail(w, http.StatusNotFound, 404, "HTTP 404 Not Found")
		return
	}
	s.mu.Lock()
	var sc schema
	found := id >= 1 && int(id) <= len(s.ids)
	if found {
		sc = s.ids[id-1]
	}
	if subject := r.URL.Query().Get("subject"); found && subject != "" {
		found = slices.Contains(s.subjects[subject], int32(id))
	}
	s.mu.Unlock()
	if !found {
		fail(w, http.StatusNotFound, 40403, fmt.Sprintf("Schema %d not found", id))
		return
	}
	if textOnly {
		w.Header().Set("Content-Type", ContentType)
		_, _ = w.Write([]byte(sc.text))
		return
	}
	body := map[string]string{"schema": sc.text}
	if sc.typ != "" {
		body["schemaType"] = sc.typ
	}
	reply(w, http.StatusOK, body)
}
