#!/usr/bin/env node
// Runs kinesalite (in memory) on 127.0.0.1 only: kinesalite's own CLI has no
// host flag and would listen on every interface.
//
// Usage: node deploy/local/kinesalite.js PORT
//
// Streams are ACTIVE at once (createStreamMs/deleteStreamMs/updateStreamMs 0)
// and the account-wide shard limit is raised from kinesalite's default of 10,
// which parallel test packages sharing one kinesalite would hit.
'use strict'

const path = require('path')
const kinesalite = require(path.join(__dirname, 'node_modules', 'kinesalite'))

const arg = process.argv[2]
const port = Number(arg)
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error(`kinesalite.js: usage: node kinesalite.js PORT (got ${JSON.stringify(arg)})`)
  process.exit(2)
}

const server = kinesalite({
  createStreamMs: 0,
  deleteStreamMs: 0,
  updateStreamMs: 0,
  shardLimit: Number(process.env.KINESALITE_SHARD_LIMIT || 500),
})

server.on('error', (err) => {
  console.error(`kinesalite.js: ${err.message}`)
  process.exit(1)
})

server.listen(port, '127.0.0.1', () => {
  const a = server.address()
  console.log(`kinesalite listening on http://${a.address}:${a.port}`)
})

function stop(signal) {
  console.log(`kinesalite.js: ${signal}, exiting`)
  // In-memory store: nothing to flush. Do not wait for keep-alive clients.
  process.exit(0)
}
process.on('SIGTERM', () => stop('SIGTERM'))
process.on('SIGINT', () => stop('SIGINT'))
