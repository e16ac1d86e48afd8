// Package storetest is the contract every checkpoints.Store must meet, as
// tests that each store's package runs against its real server (Redis,
// DynamoDB). It owns no store and no server; it must never fake one, and
// never pass a store that lets a stale holding write.
package storetest
