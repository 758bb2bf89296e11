package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// tlsDialErr dials srv with cfg and returns the error of the handshake or,
// when the handshake passed, of the first read (a TLS 1.3 server reports a
// rejected client certificate only then).
func tlsDialErr(t *testing.T, addr string, cfg *tls.Config) error {
	t.Helper()
	d := tls.Dialer{Config: cfg, NetDialer: &net.Dialer{Timeout: 5 * time.Second}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("GET / HTTP/1.0\r\n\r\n")); err != nil {
		return err
	}
	_, err = c.Read(make([]byte, 1))
	return err
}

// outOfBrokers wraps a broker's error the way sarama.NewClient reports it
// (and as missing-topic loops wrap that again).
func outOfBrokers(err error) error {
	return fmt.Errorf("connect to kafka: %w", sarama.Wrap(sarama.ErrOutOfBrokers, err))
}

func TestPermanent(t *testing.T) {
	// Real TLS failures, from real handshakes.
	quiet := log.New(io.Discard, "", 0) // the servers' handshake errors are the point
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Config.ErrorLog = quiet
	srv.StartTLS()
	defer srv.Close()
	tlsAddr := srv.Listener.Addr().String()
	trusted := x509.NewCertPool()
	trusted.AddCert(srv.Certificate())

	unknownCA := tlsDialErr(t, tlsAddr, &tls.Config{RootCAs: x509.NewCertPool()})
	wrongHost := tlsDialErr(t, tlsAddr, &tls.Config{RootCAs: trusted, ServerName: "broker.elsewhere.example"})

	plain := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	plain.Config.ErrorLog = quiet
	plain.Start()
	defer plain.Close()
	notTLS := tlsDialErr(t, plain.Listener.Addr().String(), &tls.Config{RootCAs: trusted})

	mtls := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	mtls.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: x509.NewCertPool()}
	mtls.Config.ErrorLog = quiet
	mtls.StartTLS()
	defer mtls.Close()
	mtlsPool := x509.NewCertPool()
	mtlsPool.AddCert(mtls.Certificate())
	noClientCert := tlsDialErr(t, mtls.Listener.Addr().String(), &tls.Config{RootCAs: mtlsPool})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := ln.Addr().String()
	ln.Close()
	_, refused := net.DialTimeout("tcp", closedAddr, 2*time.Second)

	for name, e := range map[string]error{"unknown CA": unknownCA, "wrong host": wrongHost, "not TLS": notTLS,
		"no client certificate": noClientCert, "connection refused": refused} {
		if e == nil {
			t.Fatalf("%s: the dial succeeded, the test needs its error", name)
		}
	}

	// What Sarama returns when the broker answers SaslAuthenticate with
	// SASL_AUTHENTICATION_FAILED and a message (broker.go, authSendReceiver).
	saslFailed := sarama.Wrap(sarama.ErrSASLAuthenticationFailed,
		errors.New("Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512"))

	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"SASL authentication failed", saslFailed, true},
		{"SASL authentication failed, out of brokers", outOfBrokers(saslFailed), true},
		{"bare KError 58", sarama.ErrSASLAuthenticationFailed, true},
		{"unsupported SASL mechanism", outOfBrokers(sarama.ErrUnsupportedSASLMechanism), true},
		{"TLS unknown authority", unknownCA, true},
		{"TLS unknown authority, out of brokers", outOfBrokers(unknownCA), true},
		{"TLS wrong host name", outOfBrokers(wrongHost), true},
		{"TLS to a plaintext port", outOfBrokers(notTLS), true},
		{"TLS client certificate required", outOfBrokers(noClientCert), true},
		{"TLS certificate expired", x509.CertificateInvalidError{Reason: x509.Expired}, true},
		{"TLS alert bad_certificate", tls.AlertError(42), true},

		{"connection refused", outOfBrokers(refused), false},
		{"EOF", outOfBrokers(io.EOF), false},
		{"out of brokers", sarama.ErrOutOfBrokers, false},
		{"timeout", context.DeadlineExceeded, false},
		{"leader not available", sarama.ErrLeaderNotAvailable, false},
		{"unknown topic", sarama.ErrUnknownTopicOrPartition, false},
		{"TLS alert close_notify", tls.AlertError(0), false},
	}
	for _, c := range cases {
		if got := Permanent(c.err); got != c.want {
			t.Errorf("%s: Permanent(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}
