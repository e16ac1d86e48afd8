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

// kinesalite rethrows a request's 'error' event, which crashes the whole
// process when a client goes away in the middle of sending a request (a
// process killed with SIGKILL mid-PutRecords — the agent's kill -9 test —
// or a context cancelled during an upload); every other test sharing this
// kinesalite would then fail. Such a request is dropped instead.
const handlers = server.listeners('request')
server.removeAllListeners('request')
server.on('request', (req, res) => {
  const on = req.on
  req.on = function (event, fn) {
    if (event !== 'error') return on.call(this, event, fn)
    return on.call(this, event, (err) => {
      console.error(`kinesalite.js: request from a client that went away dropped: ${err.message}`)
      res.destroy()
    })
  }
  for (const h of handlers) h.call(server, req, res)
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
