package firehoselocal

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// StreamStats are one stream's counters. Byte counts are record bytes
// before compression.
type StreamStats struct {
	Status            string `json:"status"`
	RecordsAccepted   int64  `json:"records_accepted"`
	BytesAccepted     int64  `json:"bytes_accepted"`
	RecordsThrottled  int64  `json:"records_throttled"`
	CallsFailed       int64  `json:"calls_failed"`
	ObjectsDelivered  int64  `json:"objects_delivered"`
	RecordsDelivered  int64  `json:"records_delivered"`
	BytesDelivered    int64  `json:"bytes_delivered"`
	BufferedBytes     int64  `json:"buffered_bytes"`
	DeliveryFailures  int64  `json:"delivery_failures"`
	LastDeliveryError string `json:"last_delivery_error,omitempty"`
	// Records (after deaggregation) written to the error prefix instead:
	// format-conversion-failed, and partitioning-failed or
	// activePartitionExceeded. RecordsDelivered counts error objects'
	// records too.
	RecordsFailedConversion   int64 `json:"records_failed_conversion"`
	RecordsFailedPartitioning int64 `json:"records_failed_partitioning"`

	// Redshift destinations only (zero otherwise). ObjectsDelivered and
	// friends count objects staged in the intermediate bucket.
	ObjectsPendingLoad int64  `json:"objects_pending_load"` // staged, not yet loaded or skipped
	LoadsSucceeded     int64  `json:"loads_succeeded"`      // COPYs that committed
	RowsLoaded         int64  `json:"rows_loaded"`
	LoadAttemptsFailed int64  `json:"load_attempts_failed"` // failed COPY attempts, retried or not
	LoadsFailed        int64  `json:"loads_failed"`         // COPYs given up: an errors manifest each
	ObjectsSkipped     int64  `json:"objects_skipped"`      // objects listed in errors manifests
	LastLoadError      string `json:"last_load_error,omitempty"`
}

func (st *stream) snapshot() StreamStats {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := st.stats
	out.Status = st.state
	return out
}

// Stats returns every stream's counters, keyed by stream name.
func (s *Server) Stats() map[string]StreamStats {
	s.mu.Lock()
	all := make([]*stream, 0, len(s.streams))
	for _, st := range s.streams {
		all = append(all, st)
	}
	s.mu.Unlock()
	out := make(map[string]StreamStats, len(all))
	for _, st := range all {
		out[st.name] = st.snapshot()
	}
	return out
}

func (s *Server) serveStats(w http.ResponseWriter) {
	writeLocalJSON(w, http.StatusOK, s.Stats())
}

// faultsJSON is the wire form of Faults on /_local/faults.
type faultsJSON struct {
	ThrottleFraction float64 `json:"throttle_fraction"`
	FailCallFraction float64 `json:"fail_call_fraction"`
	LatencyMS        int64   `json:"latency_ms"`
	Seed             int64   `json:"seed"`
}

func (s *Server) serveFaults(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("stream")
	if name == "" {
		localError(w, http.StatusBadRequest, "query parameter stream is required")
		return
	}
	switch r.Method {
	case http.MethodGet:
	case http.MethodPost, http.MethodPut:
		var in faultsJSON
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		if err == nil && len(body) > 0 {
			err = json.Unmarshal(body, &in)
		}
		if err != nil {
			localError(w, http.StatusBadRequest, fmt.Sprintf("bad faults body: %v", err))
			return
		}
		f := Faults{
			ThrottleFraction: in.ThrottleFraction,
			FailCallFraction: in.FailCallFraction,
			Latency:          time.Duration(in.LatencyMS) * time.Millisecond,
			Seed:             in.Seed,
		}
		if err := s.SetFaults(name, f); err != nil {
			status := http.StatusBadRequest
			if s.lookup(name) == nil {
				status = http.StatusNotFound
			}
			localError(w, status, err.Error())
			return
		}
	default:
		w.Header().Set("Allow", "GET, POST, PUT")
		localError(w, http.StatusMethodNotAllowed, "use GET or POST")
		return
	}
	f, err := s.Faults(name)
	if err != nil {
		localError(w, http.StatusNotFound, err.Error())
		return
	}
	writeLocalJSON(w, http.StatusOK, faultsJSON{
		ThrottleFraction: f.ThrottleFraction,
		FailCallFraction: f.FailCallFraction,
		LatencyMS:        f.Latency.Milliseconds(),
		Seed:             f.Seed,
	})
}

func writeLocalJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away; nothing to do
}

func localError(w http.ResponseWriter, status int, msg string) {
	writeLocalJSON(w, status, map[string]string{"error": msg})
}
