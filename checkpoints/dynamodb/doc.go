// Package dynamodb provides the KCL's DynamoDB lease table as a shardflow
// checkpoint store. It creates the table itself (on-demand billing) and waits
// until it is ACTIVE before any worker starts, because the KCL's own
// CreateTable makes two workers starting together race and one of them fail
// (ResourceInUseException), and does not wait for the table to be usable.
//
// The KCL's checkpoint write is replaced by one conditional on lease
// ownership (an owner that changed returns checkpoints.ErrLeaseLost). Lease
// acquisition and renewal remain the KCL's; a lease whose owner was paused
// can still expire and move, which the consumer's lease guard detects.
package dynamodb
