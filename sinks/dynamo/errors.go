package dynamo

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Error classes, the values of the errors_total metric's "class" label.
const (
	classThrottle    = "throttle"     // throttling: retried
	classServer      = "server"       // 5xx, internal errors: retried
	classConnection  = "connection"   // no answer (refused, reset, EOF): retried
	classTimeout     = "timeout"      // the request timed out: retried
	classValidation  = "validation"   // the request or an item is invalid: not retried
	classClient      = "client"       // other 4xx (access, missing table): not retried
	classUnknown     = "unknown"      // anything else: retried
	classBreakerOpen = "breaker_open" // refused by the circuit breaker
	classInvalid     = "invalid_item" // refused before sending (malformed Item)
)

var errorClasses = []string{classThrottle, classServer, classConnection, classTimeout,
	classValidation, classClient, classUnknown, classBreakerOpen, classInvalid}

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

// classify tells the class of a failed BatchWriteItem call and whether to
// retry it. The caller has already excluded its own context ending.
func classify(err error) (class string, retryable bool) {
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
			return classThrottle, true
		case serverCodes[code]:
			return classServer, true
		case timeoutCodes[code]:
			return classTimeout, true
		case validationCodes[code]:
			return classValidation, false
		}
	}
	switch {
	case status == 429:
		return classThrottle, true
	case status >= 500:
		return classServer, true
	case status >= 400:
		return classClient, false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return classTimeout, true
	}
	var se *smithyhttp.RequestSendError
	var ne net.Error
	if errors.As(err, &se) || errors.As(err, &ne) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, net.ErrClosed) {
		return classConnection, true
	}
	return classUnknown, true
}
