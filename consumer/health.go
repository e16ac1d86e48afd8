package consumer

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/smithy-go"

	"github.com/shardflow/shardflow/metrics"
)

// sourceHealth remembers what this worker could not do with the stream:
// list it, read a shard, or see every readable shard owned. Readiness is
// decided from it (SourceHealthy); every failed Kinesis call is also
// counted by API and error code.
type sourceHealth struct {
	hooks metrics.Hooks

	mu sync.Mutex
	// listFailingSince is when ListShards started to fail ("" listErr: it
	// works); zero once a listing succeeds.
	listFailingSince time.Time
	listErr          error
	// readFailing holds shards whose reader failed, since when and why;
	// a successful read clears the shard.
	readFailing map[string]failure
	// unownedSince holds readable shards that nobody holds, since when.
	unownedSince map[string]time.Time
	// storeLost is why the lease store can no longer be trusted (nil: it
	// can); final for the process.
	storeLost error
}

type failure struct {
	since time.Time
	err   error
}

func newSourceHealth(h metrics.Hooks) *sourceHealth {
	return &sourceHealth{hooks: h, readFailing: map[string]failure{}, unownedSince: map[string]time.Time{}}
}

// apiError counts one failed Kinesis call.
func (h *sourceHealth) apiError(api string, err error) {
	h.hooks.SourceError(api, errorCode(err))
}

// errorCode is the AWS error code of err ("RequestCanceled" style codes for
// transport failures).
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	var oe *smithy.OperationError
	if errors.As(err, &oe) {
		return "TransportError"
	}
	return "Other"
}

func (h *sourceHealth) listed(at time.Time, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil {
		h.listFailingSince, h.listErr = time.Time{}, nil
		return
	}
	if h.listErr == nil {
		h.listFailingSince = at
	}
	h.listErr = err
}

func (h *sourceHealth) readOK(shard string) {
	h.mu.Lock()
	if _, ok := h.readFailing[shard]; ok {
		delete(h.readFailing, shard)
	}
	h.mu.Unlock()
}

func (h *sourceHealth) readFailed(shard string, at time.Time, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f, ok := h.readFailing[shard]
	if !ok {
		f.since = at
	}
	f.err = err
	h.readFailing[shard] = f
}

// ownership records, each cycle, which readable shards have no live owner.
func (h *sourceHealth) ownership(at time.Time, unowned []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := make(map[string]time.Time, len(unowned))
	for _, id := range unowned {
		if since, ok := h.unownedSince[id]; ok {
			now[id] = since
		} else {
			now[id] = at
		}
	}
	h.unownedSince = now
}

// lostStore records that the lease store lost its data.
func (h *sourceHealth) lostStore(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.storeLost == nil {
		h.storeLost = err
	}
}

// check returns why the source is not healthy at now, or nil.
func (h *sourceHealth) check(now time.Time, grace, lease time.Duration, stream string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var problems []string
	if h.storeLost != nil {
		problems = append(problems, fmt.Sprintf("stopped reading stream %s: %v; "+
			"restore the store or rewind with `shardflow checkpoints reset`, then restart (runbook: the lease store lost its data)",
			stream, h.storeLost))
	}
	if h.listErr != nil && now.Sub(h.listFailingSince) > grace {
		problems = append(problems, fmt.Sprintf("cannot list the shards of stream %s for %s: %v",
			stream, now.Sub(h.listFailingSince).Round(time.Second), h.listErr))
	}
	var failing []string
	for id, f := range h.readFailing {
		if now.Sub(f.since) > grace {
			failing = append(failing, fmt.Sprintf("%s (for %s: %v)", id, now.Sub(f.since).Round(time.Second), f.err))
		}
	}
	sort.Strings(failing)
	if len(failing) > 0 {
		problems = append(problems, fmt.Sprintf("cannot read shard(s) of stream %s: %s", stream, strings.Join(failing, "; ")))
	}
	var unowned []string
	for id, since := range h.unownedSince {
		if now.Sub(since) > lease+grace {
			unowned = append(unowned, id)
		}
	}
	sort.Strings(unowned)
	if len(unowned) > 0 {
		problems = append(problems, fmt.Sprintf("shard(s) of stream %s owned by no worker for over %s: %s",
			stream, (lease+grace).Round(time.Second), strings.Join(unowned, ", ")))
	}
	if len(problems) == 0 {
		return nil
	}
	return errors.New(strings.Join(problems, "; "))
}
