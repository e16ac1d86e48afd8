// Package checkpoints owns the lease and checkpoint store contract: Store
// (leases with fencing tokens, checkpoints, worker heartbeats, handoff
// reservations), its types and sentinel errors, and the two stores under
// it — redis (the default) and dynamodb — each meeting the same contract
// (checkpoints/storetest).
//
// Bind ties a worker to the store's epoch (written once per application):
// once bound, View and Acquire answer ErrStoreLost when the epoch is gone or
// different — the store was emptied or replaced — so that nobody takes an
// emptied store for a new application and reads from initial_position.
//
// A store decides nothing about who should hold what (consumer/assign
// does) and holds no KCL type: it must never let a write succeed for a
// worker that is not the lease's current holder (owner and token, lease not
// expired), never overwrite a checkpoint when a lease is acquired, and never
// call its backend per record.
package checkpoints
