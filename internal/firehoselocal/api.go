package firehoselocal

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/google/uuid"
)

const (
	targetPrefix = "Firehose_20150804."
	contentType  = "application/x-amz-json-1.1"
)

type operation func(s *Server, ctx context.Context, body []byte) (any, error)

var operations = map[string]operation{
	"CreateDeliveryStream":   (*Server).createDeliveryStream,
	"DescribeDeliveryStream": (*Server).describeDeliveryStream,
	"ListDeliveryStreams":    (*Server).listDeliveryStreams,
	"DeleteDeliveryStream":   (*Server).deleteDeliveryStream,
	"PutRecord":              (*Server).putRecord,
	"PutRecordBatch":         (*Server).putRecordBatch,
}

// serveAPI dispatches one AWS JSON 1.1 call on its X-Amz-Target.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("x-amzn-RequestId", uuid.NewString())
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	handler := operations[op]
	if !ok || handler == nil {
		writeError(w, newAPIError(http.StatusBadRequest, "UnknownOperationException",
			"operation %q is not implemented by firehose-local", r.Header.Get("X-Amz-Target")))
		return
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		writeError(w, serviceUnavailable("firehose-local is shutting down"))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, newAPIError(http.StatusRequestEntityTooLarge, "SerializationException",
				"request body exceeds %d bytes", maxBodyBytes))
			return
		}
		writeError(w, serializationError(err))
		return
	}
	out, err := handler(s, r.Context(), body)
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			s.log.Error("internal error", "op", op, "err", err)
			ae = newAPIError(http.StatusInternalServerError, "InternalFailure", "%v", err)
		}
		writeError(w, ae)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only our own response types are marshalled: this is a bug.
		status = http.StatusInternalServerError
		body = []byte(`{"__type":"InternalFailure","message":"cannot encode response"}`)
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("X-Amzn-ErrorType", e.code)
	writeJSON(w, e.status, struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{e.code, e.msg})
}
