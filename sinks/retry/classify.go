package retry

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Classes of failed AWS calls, as Classify tells them; the sinks' error
// metrics use them as label values.
const (
	ClassThrottle   = "throttle"   // throttling: retried
	ClassServer     = "server"     // 5xx, internal errors: retried
	ClassConnection = "connection" // no answer (refused, reset, EOF): retried
	ClassTimeout    = "timeout"    // the request timed out: retried
	ClassValidation = "validation" // the request or an item is invalid: not retried
	ClassClient     = "client"     // other 4xx (access, missing table or bucket): not retried
	ClassUnknown    = "unknown"    // anything else: retried
)

// Classes are all classes Classify returns.
var Classes = []string{ClassThrottle, ClassServer, ClassConnection, ClassTimeout, ClassValidation, ClassClient, ClassUnknown}

var throttleCodes = map[string]bool{
	"ThrottlingException":                    true,
	"Throttling":                             true,
	"ThrottledException":                     true,
	"ProvisionedThroughputExceededException": true,
	"RequestLimitExceeded":                   true,
	"TooManyRequestsException":               true,
	"RequestThrottled":                       true,
	"RequestThrottledException":              true,
	"SlowDown":                               true,
}

var serverCodes = map[string]bool{
	"InternalServerError":         true,
	"InternalFailure":             true,
	"InternalError":               true,
	"ServiceUnavailable":          true,
	"ServiceUnavailableException": true,
}

var timeoutCodes = map[string]bool{
	"RequestTimeout":          true,
	"RequestTimeoutException": true,
}

var validationCodes = map[string]bool{
	"ValidationException":    true,
	"SerializationException": true,
}

// Classify tells the class of a failed AWS call (DynamoDB, S3) and whether
// to retry it. The caller has already excluded its own context ending.
func Classify(err error) (class string, retryable bool) {
	status := 0
	var re interface{ HTTPStatusCode() int } // *awshttp.ResponseError, *smithyhttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code := ae.ErrorCode()
		switch {
		case throttleCodes[code]:
			return ClassThrottle, true
		case serverCodes[code]:
			return ClassServer, true
		case timeoutCodes[code]:
			return ClassTimeout, true
		case validationCodes[code]:
			return ClassValidation, false
		}
	}
	switch {
	case status == 429:
		return ClassThrottle, true
	case status >= 500:
		return ClassServer, true
	case status >= 400:
		return ClassClient, false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return ClassTimeout, true
	}
	var se *smithyhttp.RequestSendError
	var ne net.Error
	if errors.As(err, &se) || errors.As(err, &ne) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, net.ErrClosed) {
		return ClassConnection, true
	}
	return ClassUnknown, true
}
