package firehoselocal

import (
	"fmt"
	"net/http"
	"strings"
)

// apiError is an error answered in the AWS JSON 1.1 shape:
// {"__type": code, "message": msg} plus the X-Amzn-ErrorType header, which is
// what SDKs use to pick the typed exception.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func newAPIError(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

func invalidArgument(format string, args ...any) *apiError {
	return newAPIError(http.StatusBadRequest, "InvalidArgumentException", format, args...)
}

// unsupported refuses a feature of the real service that firehose-local does
// not emulate yet: failing loudly beats accepting it and behaving differently.
func unsupported(what string) *apiError {
	return invalidArgument("%s is not supported by firehose-local", what)
}

// notFound uses the message the real service uses, so log matching written
// against AWS works locally too.
func (s *Server) notFound(name string) *apiError {
	return newAPIError(http.StatusBadRequest, "ResourceNotFoundException",
		"Firehose %s under account %s not found.", name, s.cfg.Account)
}

func serializationError(err error) *apiError {
	return newAPIError(http.StatusBadRequest, "SerializationException", "%v", err)
}

func serviceUnavailable(msg string) *apiError {
	return newAPIError(http.StatusServiceUnavailable, "ServiceUnavailableException", "%s", msg)
}

// violations collects model constraint failures so that all of them are
// reported in one ValidationException, worded like the service's request
// validation layer.
type violations []string

// maxListedViolations bounds the message: 500 oversized records would
// otherwise produce a 75 kB error string.
const maxListedViolations = 10

func (v *violations) add(value, path, constraint string) {
	*v = append(*v, fmt.Sprintf("Value %s at '%s' failed to satisfy constraint: %s", value, path, constraint))
}

func (v *violations) null(path string) {
	v.add("null", path, "Member must not be null")
}

func (v *violations) err() error {
	n := len(*v)
	if n == 0 {
		return nil
	}
	head := "1 validation error detected: "
	if n > 1 {
		head = fmt.Sprintf("%d validation errors detected: ", n)
	}
	listed := *v
	if len(listed) > maxListedViolations {
		listed = listed[:maxListedViolations]
	}
	return newAPIError(http.StatusBadRequest, "ValidationException", "%s%s", head, strings.Join(listed, "; "))
}

// quoted renders a value the way the validation messages do: 'value'.
func quoted(v any) string { return fmt.Sprintf("'%v'", v) }

// blobValue renders a blob the way the Java service prints one in its
// validation messages.
func blobValue(n int) string {
	return fmt.Sprintf("'java.nio.HeapByteBuffer[pos=0 lim=%d cap=%d]'", n, n)
}
