// Package dynamodb provides the KCL's DynamoDB lease table as a shardflow
// checkpoint store. It creates the table itself (on-demand billing) and waits
// until it is ACTIVE before any worker starts, because the KCL's own
// CreateTable makes two workers starting together race and one of them fail
// (ResourceInUseException), and does not wait for the table to be usable.
//
// It inherits the KCL store's known weakness: checkpoint writes are not
// fenced by lease ownership (see shared/notes/kcl-v1.0.0.md).
package dynamodb
