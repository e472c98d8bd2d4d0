package ec2sim

import (
	"fmt"
	"net/http"
)

// APIError is an EC2 error response: a code from the EC2 error catalogue
// (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html)
// and the HTTP status EC2 sends with it.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string { return e.Code + ": " + e.Message }

// clientErr is the common 400 case.
func clientErr(code, format string, args ...any) *APIError {
	return &APIError{Status: http.StatusBadRequest, Code: code, Message: fmt.Sprintf(format, args...)}
}

func missing(param string) *APIError {
	return clientErr("MissingParameter", "The request must contain the parameter %s", param)
}

func invalidValue(param, value, why string) *APIError {
	return clientErr("InvalidParameterValue", "Value (%s) for parameter %s is invalid. %s", value, param, why)
}

func notFound(code, kind, id string) *APIError {
	return clientErr(code, "The %s '%s' does not exist", kind, id)
}

func malformed(code, id string) *APIError {
	return clientErr(code, "Invalid id: \"%s\"", id)
}

func incorrectState(id, state, verb string) *APIError {
	return clientErr("IncorrectInstanceState",
		"The instance '%s' is not in a state from which it can be %s (it is %s).", id, verb, state)
}

func invalidCombination(format string, args ...any) *APIError {
	return clientErr("InvalidParameterCombination", format, args...)
}

var (
	errThrottled = &APIError{Status: http.StatusServiceUnavailable, Code: "RequestLimitExceeded", Message: "Request limit exceeded."}
	errInternal  = &APIError{Status: http.StatusInternalServerError, Code: "InternalError",
		Message: "An internal error has occurred. (injected by the simulator)"}
	errUnavailable = &APIError{Status: http.StatusServiceUnavailable, Code: "Unavailable",
		Message: "The server is overloaded and can't handle the request. (injected by the simulator)"}
	errDryRun = &APIError{Status: http.StatusPreconditionFailed, Code: "DryRunOperation",
		Message: "Request would have succeeded, but DryRun flag is set."}
)

func unauthorized(action string) *APIError {
	return &APIError{Status: http.StatusForbidden, Code: "UnauthorizedOperation",
		Message: fmt.Sprintf("You are not authorized to perform this operation. (ec2:%s is denied by the simulator's fault settings)", action)}
}
