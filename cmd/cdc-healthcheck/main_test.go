package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHealthcheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/readyz":
			w.WriteHeader(http.StatusOK)
		case "/created":
			w.WriteHeader(http.StatusNoContent)
		case "/starting":
			http.Error(w, "tables recovering", http.StatusServiceUnavailable)
		case "/slow":
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/readyz"
	ln.Close()

	cases := []struct {
		args []string
		code int
		says string
	}{
		{[]string{srv.URL + "/readyz"}, 0, "healthy"},
		{[]string{srv.URL + "/created"}, 0, "healthy"},
		{[]string{srv.URL + "/starting"}, 1, "503"},
		{[]string{srv.URL + "/nothing"}, 1, "404"},
		{[]string{"-timeout", "200ms", srv.URL + "/slow"}, 1, "no answer within 200ms"},
		{[]string{closed}, 1, "refused"},
		{[]string{"127.0.0.1:8080/readyz"}, 1, "not an http(s) URL"},
		{nil, 2, "usage"},
		{[]string{"a", "b"}, 2, "usage"},
	}
	for _, c := range cases {
		var out, errs bytes.Buffer
		code := run(c.args, &out, &errs)
		if code != c.code || !strings.Contains(out.String()+errs.String(), c.says) {
			t.Errorf("cdc-healthcheck %v: exit %d, output %q; want exit %d saying %q", c.args, code, out.String()+errs.String(), c.code, c.says)
		}
	}
}
