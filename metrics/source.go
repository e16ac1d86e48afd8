package metrics

// SourceHooks are the hook points of lease assignment and of the Kinesis
// source, called by consumer/.
type SourceHooks interface {
	// LeaseAcquired reports a lease this worker took in the store; how is
	// an Acquired* constant.
	LeaseAcquired(shard, how string)
	// LeaseGroup reports, once per coordination cycle, this worker's view
	// of the group: every live worker with the readable shards it holds,
	// and the plan's balance (max/mean of per-worker shards or load).
	// workers is the caller's and valid only during the call.
	LeaseGroup(workers []WorkerLeases, balance float64)
	// SourceError reports one failed Kinesis call: api is the operation
	// ("ListShards", "GetRecords", "GetShardIterator"), code the AWS error
	// code, "TransportError" or "Other".
	SourceError(api, code string)
}

// WorkerLeases is one worker's share in LeaseGroup.
type WorkerLeases struct {
	Worker string
	Held   int
}

// How a lease was acquired, for LeaseAcquired.
const (
	// AcquiredFree: nobody held it (never leased, or released without a
	// successor).
	AcquiredFree = "free"
	// AcquiredHandoff: its last owner drained it and named this worker.
	AcquiredHandoff = "handoff"
	// AcquiredTakeover: its owner stopped renewing (crashed, paused,
	// partitioned) and the lease expired: this worker took it over.
	AcquiredTakeover = "takeover"
)

func (Nop) LeaseAcquired(string, string)       {}
func (Nop) LeaseGroup([]WorkerLeases, float64) {}
func (Nop) SourceError(string, string)         {}

func (m Multi) LeaseAcquired(shard, how string) {
	for _, h := range m {
		h.LeaseAcquired(shard, how)
	}
}

func (m Multi) LeaseGroup(workers []WorkerLeases, balance float64) {
	for _, h := range m {
		h.LeaseGroup(workers, balance)
	}
}

func (m Multi) SourceError(api, code string) {
	for _, h := range m {
		h.SourceError(api, code)
	}
}
