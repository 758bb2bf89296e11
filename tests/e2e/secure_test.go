package e2e

// TLS and SASL/SCRAM against a broker that demands both: the real
// analytics-service binary, configured only through KAFKA_TLS,
// KAFKA_TLS_CA_FILE, KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and
// KAFKA_SASL_PASSWORD, consumes a Debezium stream written by a producer that
// speaks TLS and SCRAM as well, and its API must equal the oracle. With a
// wrong password or a CA that did not sign the broker's certificate it must
// stop at once, non-zero, with a log line that says why.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/cdcflow/cdcflow/tools/dbzenc"
	"github.com/cdcflow/cdcflow/tools/oracle"
	"github.com/cdcflow/cdcflow/tools/shopsim"
)

const (
	secureUser     = "cdcflow-analytics"
	securePassword = "s3cret-Pa55word"
)

// securePKI is a throwaway certificate authority and a broker certificate
// it signed for 127.0.0.1 and localhost.
type securePKI struct {
	caFile string          // the CA certificate, PEM, for KAFKA_TLS_CA_FILE
	pool   *x509.CertPool  // the same CA, for the test's own clients
	server tls.Certificate // the broker's certificate and key
}

// newSecurePKI generates a CA and a server certificate under dir.
func newSecurePKI(t *testing.T, dir, name string) securePKI {
	t.Helper()
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name + " test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, name+"-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return securePKI{caFile: caFile, pool: pool,
		server: tls.Certificate{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}}
}

// startSecureKafka starts kfake listening only with TLS (the PKI's server
// certificate) and demanding SASL with mechanism (SCRAM-SHA-256 or
// SCRAM-SHA-512) for user/password, with the service's input topics.
func startSecureKafka(t *testing.T, pki securePKI, mechanism string) []string {
	t.Helper()
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{pki.server}, MinVersion: tls.VersionTLS12}
	cluster, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.DefaultNumPartitions(3),
		kfake.SeedTopics(3, anOrdersTopic, anItemsTopic),
		kfake.EnableSASL(),
		kfake.Superuser(mechanism, secureUser, securePassword),
		// TLS is set up here rather than with kfake.TLS, so that the
		// connections kfake sees (plaintext above TLS) can go through
		// saslRejectListener.
		kfake.ListenFn(func(network, addr string) (net.Listener, error) {
			ln, err := net.Listen(network, addr)
			if err != nil {
				return nil, err
			}
			return saslRejectListener{Listener: tls.NewListener(ln, tlsCfg), mechanism: mechanism}, nil
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	return cluster.ListenAddrs()
}

// saslRejectListener makes kfake answer a failed SASL authentication as a
// Kafka broker does. Kafka's SaslServerAuthenticator answers the
// SaslAuthenticate request that carried wrong credentials with error
// SASL_AUTHENTICATION_FAILED ("Authentication failed during authentication
// due to invalid credentials with SASL mechanism SCRAM-SHA-512") and then
// closes the connection; kfake closes it without an answer, which a client
// can only report as an EOF. Each connection tracks the requests kfake
// reads: when kfake closes a connection while a SaslAuthenticate request
// is unanswered, the broker's answer is written first.
type saslRejectListener struct {
	net.Listener
	mechanism string
}

func (l saslRejectListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &saslRejectConn{Conn: c, mechanism: l.mechanism}, nil
}

type saslRejectConn struct {
	net.Conn
	mechanism string

	mu      sync.Mutex
	head    []byte // the start of the request being read: size, key, version, correlation id
	skip    int    // bytes of the request's body still to come
	pending bool   // a SaslAuthenticate request has not been answered
	version int16
	corr    int32
	closed  sync.Once
}

// Read passes kfake's reads through, following the request frames.
func (c *saslRejectConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	for b := p[:n]; len(b) > 0; {
		if c.skip > 0 {
			k := min(c.skip, len(b))
			c.skip -= k
			b = b[k:]
			continue
		}
		k := min(12-len(c.head), len(b))
		c.head = append(c.head, b[:k]...)
		b = b[k:]
		if len(c.head) == 12 {
			size := int(binary.BigEndian.Uint32(c.head[0:4]))
			if int16(binary.BigEndian.Uint16(c.head[4:6])) == kmsg.SASLAuthenticate.Int16() {
				c.pending = true
				c.version = int16(binary.BigEndian.Uint16(c.head[6:8]))
				c.corr = int32(binary.BigEndian.Uint32(c.head[8:12]))
			}
			c.skip = size - 8
			c.head = c.head[:0]
		}
	}
	c.mu.Unlock()
	return n, err
}

// Write passes kfake's answers through: one request is answered at a time,
// so any answer answers the pending request.
func (c *saslRejectConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.pending = false
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// Close answers an unanswered SaslAuthenticate as Kafka would, then closes.
func (c *saslRejectConn) Close() error {
	c.closed.Do(func() {
		c.mu.Lock()
		pending, version, corr := c.pending, c.version, c.corr
		c.pending = false
		c.mu.Unlock()
		if !pending {
			return
		}
		resp := kmsg.NewPtrSASLAuthenticateResponse()
		resp.Version = version
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		msg := "Authentication failed during authentication due to invalid credentials with SASL mechanism " + c.mechanism
		resp.ErrorMessage = &msg
		buf := binary.BigEndian.AppendUint32(make([]byte, 4), uint32(corr))
		if resp.IsFlexible() {
			buf = append(buf, 0) // the response header's empty tagged fields
		}
		buf = resp.AppendTo(buf)
		binary.BigEndian.PutUint32(buf[:4], uint32(len(buf)-4))
		_ = c.Conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
		_, _ = c.Conn.Write(buf)
	})
	return c.Conn.Close()
}

// scramMechanism is the franz-go client side of mechanism.
func scramMechanism(mechanism, user, password string) sasl.Mechanism {
	a := scram.Auth{User: user, Pass: password}
	if mechanism == "SCRAM-SHA-256" {
		return a.AsSha256Mechanism()
	}
	return a.AsSha512Mechanism()
}

// produceSecure writes records over TLS and SASL.
func produceSecure(t *testing.T, brokers []string, pool *x509.CertPool, mechanism string, recs []shopsim.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerLinger(2*time.Millisecond),
		kgo.DialTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}),
		kgo.SASL(scramMechanism(mechanism, secureUser, securePassword)))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	krs := make([]*kgo.Record, 0, len(recs))
	for _, r := range recs {
		krs = append(krs, &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value})
	}
	if err := cl.ProduceSync(ctx, krs...).FirstErr(); err != nil {
		t.Fatalf("produce over TLS and %s: %v", mechanism, err)
	}
}

// secureEnv is analytics-service's environment against the secure broker.
func secureEnv(brokers []string, caFile, mechanism, password string) map[string]string {
	return map[string]string{
		"KAFKA_BOOTSTRAP_SERVERS":   strings.Join(brokers, ","),
		"KAFKA_TLS":                 "true",
		"KAFKA_TLS_CA_FILE":         caFile,
		"KAFKA_SASL_MECHANISM":      mechanism,
		"KAFKA_SASL_USERNAME":       secureUser,
		"KAFKA_SASL_PASSWORD":       password,
		"AWS_REGION":                "us-east-1",
		"AWS_EC2_METADATA_DISABLED": "true",
	}
}

// TestSecureKafka runs analytics-service against a broker that accepts
// only TLS connections authenticated with SCRAM.
func TestSecureKafka(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	for _, mechanism := range []string{"SCRAM-SHA-512", "SCRAM-SHA-256"} {
		t.Run(mechanism, func(t *testing.T) {
			pki := newSecurePKI(t, t.TempDir(), "broker")
			brokers := startSecureKafka(t, pki, mechanism)

			changes := shopsim.New(shopsim.Config{Seed: 7, Products: 20}).Generate(600)
			recs, err := shopsim.Encode(changes, dbzenc.EncodeOptions{Format: dbzenc.FormatEnvelope})
			if err != nil {
				t.Fatal(err)
			}
			byTopic := shopsim.ByTopic(recs)
			mine := append(append([]shopsim.Record{}, byTopic[anOrdersTopic]...), byTopic[anItemsTopic]...)
			want := oracle.ExpectAnalytics(changes)
			if want.Summary.TotalOrders == 0 {
				t.Fatal("the stream has no live orders: nothing to check")
			}
			produceSecure(t, brokers, pki.pool, mechanism, mine)

			p := procStart(t, "analytics-service", "secure-"+strings.ToLower(mechanism),
				secureEnv(brokers, pki.caFile, mechanism, securePassword))
			p.WaitReady(90 * time.Second)
			deadline := time.Now().Add(2 * time.Minute)
			cache := anObjectCache{}
			for {
				d := anCompareAll(t, nil, p.URL(), want, time.Time{}, time.Time{}, cache)
				if d == "" {
					break
				}
				p.CheckRunning()
				if time.Now().After(deadline) {
					t.Fatalf("the API does not equal the oracle after 2 minutes: %s", d)
				}
				time.Sleep(300 * time.Millisecond)
			}
			t.Logf("%d records over TLS and %s: summary %d orders, API = oracle", len(mine), mechanism, want.Summary.TotalOrders)
		})
	}
}

// TestSecureKafkaRefused checks that a service that cannot get in stops at
// once with a clear error instead of waiting for Kafka for ever.
func TestSecureKafkaRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const mechanism = "SCRAM-SHA-512"
	dir := t.TempDir()
	pki := newSecurePKI(t, dir, "broker")
	other := newSecurePKI(t, dir, "other")
	brokers := startSecureKafka(t, pki, mechanism)

	cases := []struct {
		name   string
		env    map[string]string
		reason string // what the error line must say (case-insensitive)
	}{
		{"wrong password", secureEnv(brokers, pki.caFile, mechanism, "not-"+securePassword), "SASL authentication failed"},
		{"CA that did not sign the broker", secureEnv(brokers, other.caFile, mechanism, securePassword), "certificate signed by unknown authority"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := procStart(t, "analytics-service", "refused", c.env)
			r := p.current()
			const within = 30 * time.Second
			select {
			case <-r.done:
			case <-time.After(within):
				t.Fatalf("still running %v after start (waiting for ever?):\n%s", within, procTail(r.log, 20))
			}
			took := r.exit.at.Sub(r.started)
			if r.exit.code == 0 || r.exit.signal != "" {
				t.Fatalf("ended with %s, want a non-zero exit code:\n%s", r.exit, procTail(r.log, 20))
			}
			b, err := os.ReadFile(r.log)
			if err != nil {
				t.Fatal(err)
			}
			var found string
			for _, line := range strings.Split(string(b), "\n") {
				if strings.Contains(line, `"level":"ERROR"`) && strings.Contains(strings.ToLower(line), strings.ToLower(c.reason)) {
					found = line
					break
				}
			}
			if found == "" {
				t.Fatalf("no error line says %q:\n%s", c.reason, procTail(r.log, 20))
			}
			t.Logf("%s after %v: %s", r.exit, took.Round(10*time.Millisecond), found)
		})
	}
}
