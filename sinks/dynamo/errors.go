package dynamo

import "github.com/cdcflow/cdcflow/sinks/retry"

// Error classes, the values of the errors_total metric's "class" label: the
// classes of a failed request (package sinks/retry), and two of the Writer's
// own.
const (
	classThrottle    = retry.ClassThrottle
	classServer      = retry.ClassServer
	classConnection  = retry.ClassConnection
	classTimeout     = retry.ClassTimeout
	classValidation  = retry.ClassValidation
	classClient      = retry.ClassClient
	classUnknown     = retry.ClassUnknown
	classBreakerOpen = "breaker_open" // refused by the circuit breaker
	classInvalid     = "invalid_item" // refused before sending (malformed Item)
)

var errorClasses = append(retry.Classes[:len(retry.Classes):len(retry.Classes)], classBreakerOpen, classInvalid)

// classify tells the class of a failed BatchWriteItem call and whether to
// retry it (retry.Classify).
var classify = retry.Classify
