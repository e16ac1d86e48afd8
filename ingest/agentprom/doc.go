// Package agentprom exposes an agent's totals (ingest.Agent.Snapshot) as
// Prometheus metrics, read at scrape time. It owns the metric names and
// labels and nothing else: it must never reach into the agent's parts, and
// it keeps per-file series bounded (the 100 files with the largest lag per
// flow; the rest are summed under file="other").
package agentprom
