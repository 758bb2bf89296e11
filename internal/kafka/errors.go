package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"reflect"

	"github.com/IBM/sarama"
)

// Permanent reports whether err, from connecting to or talking with the
// brokers, is one that waiting will not cure: the credentials or the TLS
// setup are wrong, and retrying only hides that behind an endless "waiting
// for Kafka". A service should stop with the error instead.
//
// Permanent are:
//   - SASL: the broker rejected the credentials (SASL_AUTHENTICATION_FAILED,
//     what a broker answers to a wrong password or an unknown user) or does
//     not offer the mechanism (UNSUPPORTED_SASL_MECHANISM).
//   - TLS: the broker's certificate does not verify against the trusted CAs
//     (unknown authority, expired or not yet valid, not for this host), the
//     broker refused the handshake with a certificate alert, or the broker
//     does not speak TLS on that port (the reply is not a TLS record).
//
// Everything else (connection refused, timeouts, EOF, a broker that is not
// up yet, leader elections, missing topics) is not: those pass.
//
// Sarama wraps the per-broker errors into ErrOutOfBrokers (and a broker's
// error message into the KError), so the test goes through the whole chain.
func Permanent(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, sarama.ErrSASLAuthenticationFailed) || errors.Is(err, sarama.ErrUnsupportedSASLMechanism) {
		return true
	}
	var (
		unknownAuthority x509.UnknownAuthorityError
		invalidCert      x509.CertificateInvalidError
		hostname         x509.HostnameError
		verification     *tls.CertificateVerificationError
		record           tls.RecordHeaderError
		alert            tls.AlertError
	)
	switch {
	case errors.As(err, &unknownAuthority), errors.As(err, &invalidCert), errors.As(err, &hostname),
		errors.As(err, &verification), errors.As(err, &record):
		return true
	case errors.As(err, &alert):
		return certificateAlerts[uint8(alert)]
	}
	// An alert the broker sent over TCP is a *net.OpError "remote error"
	// around crypto/tls's unexported alert type (a uint8).
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" && op.Err != nil {
		if v := reflect.ValueOf(op.Err); v.Kind() == reflect.Uint8 {
			return certificateAlerts[uint8(v.Uint())]
		}
	}
	return false
}

// certificateAlerts are the TLS alerts (RFC 8446 section 6.2) with which a
// peer rejects a certificate or the handshake's parameters: none of them
// goes away on a retry with the same configuration.
var certificateAlerts = map[uint8]bool{
	40:  true, // handshake_failure
	42:  true, // bad_certificate
	43:  true, // unsupported_certificate
	44:  true, // certificate_revoked
	45:  true, // certificate_expired
	46:  true, // certificate_unknown
	48:  true, // unknown_ca
	70:  true, // protocol_version
	71:  true, // insufficient_security
	116: true, // certificate_required
}
