package firehoselocal

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"
)

// Faults makes a stream's PutRecord/PutRecordBatch misbehave the ways the
// real service does under load, so clients' retry paths can be tested.
type Faults struct {
	// ThrottleFraction of records is refused with ServiceUnavailableException
	// "Slow down.": per record inside a 200 PutRecordBatch response (with
	// FailedPutCount), or as the whole PutRecord call (HTTP 503).
	ThrottleFraction float64
	// FailCallFraction of calls fails as a whole, with no record accepted:
	// HTTP 500 InternalFailure or HTTP 503 ServiceUnavailableException,
	// half each.
	FailCallFraction float64
	// Latency is added before each call is answered.
	Latency time.Duration
	// Seed makes the decisions reproducible for a given sequence of calls;
	// zero seeds randomly.
	Seed int64
}

func (f Faults) validate() error {
	if f.ThrottleFraction < 0 || f.ThrottleFraction > 1 {
		return fmt.Errorf("ThrottleFraction %v is outside [0, 1]", f.ThrottleFraction)
	}
	if f.FailCallFraction < 0 || f.FailCallFraction > 1 {
		return fmt.Errorf("FailCallFraction %v is outside [0, 1]", f.FailCallFraction)
	}
	if f.Latency < 0 {
		return fmt.Errorf("Latency %v is negative", f.Latency)
	}
	return nil
}

// SetFaults replaces the named stream's faults; the zero Faults clears them.
func (s *Server) SetFaults(stream string, f Faults) error {
	if err := f.validate(); err != nil {
		return fmt.Errorf("firehoselocal: set faults on %q: %w", stream, err)
	}
	st := s.lookup(stream)
	if st == nil {
		return fmt.Errorf("firehoselocal: set faults: no delivery stream %q", stream)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.faults = f
	st.rng = newRand(f.Seed)
	return nil
}

// Faults returns the named stream's current faults.
func (s *Server) Faults(stream string) (Faults, error) {
	st := s.lookup(stream)
	if st == nil {
		return Faults{}, fmt.Errorf("firehoselocal: faults: no delivery stream %q", stream)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.faults, nil
}

func newRand(seed int64) *rand.Rand {
	if seed == 0 {
		return rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	return rand.New(rand.NewPCG(uint64(seed), uint64(seed)))
}

// injectCallFaults applies Latency and FailCallFraction to one call.
func (st *stream) injectCallFaults(ctx context.Context) error {
	st.mu.Lock()
	f := st.faults
	fail := f.FailCallFraction > 0 && st.rng.Float64() < f.FailCallFraction
	internal := fail && st.rng.IntN(2) == 0
	if fail {
		st.stats.CallsFailed++
	}
	st.mu.Unlock()

	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("injected latency: %w", ctx.Err())
		}
	}
	switch {
	case internal:
		return newAPIError(http.StatusInternalServerError, "InternalFailure",
			"The request processing has failed because of an unknown error, exception or failure.")
	case fail:
		return serviceUnavailable("Slow down.")
	}
	return nil
}

// throttleLocked decides whether the next record is throttled and counts
// it. Caller holds mu.
func (st *stream) throttleLocked() bool {
	if st.faults.ThrottleFraction <= 0 || st.rng.Float64() >= st.faults.ThrottleFraction {
		return false
	}
	st.stats.RecordsThrottled++
	return true
}
