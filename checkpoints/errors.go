package checkpoints

import "errors"

// ErrLeaseLost is returned (wrapped) by a store's checkpoint write when the
// caller no longer owns the shard's lease: another worker took it, or it
// expired. The consumer treats it as final for that shard in this process:
// stop handing over its records, never write for it again.
var ErrLeaseLost = errors.New("checkpoints: lease lost")
