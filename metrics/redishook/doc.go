// Package redishook reports every Redis round trip of a go-redis client to
// metrics.Hooks.RedisCall, as a go-redis hook: one line at client
// construction (client.AddHook(redishook.New(hooks))) instead of timing
// code at every call site.
//
// The op label is the command name as go-redis lower-cases it ("evalsha",
// "get", "ping"), "pipeline" or "multi" for a pipelined or transactional
// batch (one round trip), "dial" for a new connection and
// "client_setinfo" for the identification go-redis sends on it (whose
// failure on servers before 7.2 go-redis ignores, and so does this hook).
// redis.Nil (a missing key) is an answer, not an error.
//
// It must never change what a command returns, and adds no allocation of
// its own to a call beyond what go-redis does.
package redishook
