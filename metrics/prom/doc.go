// Package prom is the Prometheus adapter of shardflow's metrics hooks: New
// returns a metrics.Hooks whose calls update client_golang counters, gauges
// and histograms, and whose Handler serves them on /metrics.
//
// It owns the metric names, help texts, labels and buckets; the core only
// calls metrics.Hooks and never imports this package (the pipeline's wiring
// does). Like franz-go's kprom, it caches the label-bound child of every
// label value it has seen, so that a hook call for a known shard, stream or
// operator costs a read-locked map lookup and an atomic add, and allocates
// nothing.
//
// What it must never do: block a hook on anything but a short in-memory
// lock, expose a series whose value is not known yet (a shard's gauges
// appear with their first value), or let label values grow without bound
// (shard series are dropped on LeaseLost; every other label keeps at most
// 100 values, the rest reported as "other").
//
// # Metrics
//
// Every series carries the constant label pipeline (Options.Pipeline), plus
// Options.ConstLabels. Counters restart at 0 when a process starts or a
// shard's lease comes back.
//
//	name                                         type       labels          meaning
//	shardflow_records_read_total                 counter    shard           Kinesis records handed over to the pipeline
//	shardflow_bytes_read_total                   counter    shard           payload bytes of those records
//	shardflow_behind_latest_seconds              gauge      shard           MillisBehindLatest of the shard's latest GetRecords, in seconds
//	shardflow_records_acked_total                counter    shard           records whose batch every output acked (durable, may be checkpointed)
//	shardflow_batches_failed_total               counter    shard           batches acked with an error: an output gave up, the shard's checkpoint stops
//	shardflow_batch_ack_duration_seconds         histogram  -               hand-over of a batch to its successful ack (decode, linger, Firehose, retries)
//	shardflow_checkpoints_total                  counter    shard           checkpoint writes
//	shardflow_shard_checkpoint_lag_seconds       gauge      shard           lag of the latest checkpoint: write time − arrival time of the checkpointed record
//	shardflow_last_checkpoint_timestamp_seconds  gauge      shard           Unix time of the latest checkpoint (alert on time() − this)
//	shardflow_checkpoint_lag_seconds             histogram  -               checkpoint lag at every checkpoint write, all shards
//	shardflow_leases_held                        gauge      -               shard leases this worker holds
//	shardflow_leases_gained_total                counter    -               leases taken
//	shardflow_leases_lost_total                  counter    reason          leases given up or lost: released, handed_over, shard_end, expired, fenced, reader_failed
//	shardflow_leases_acquired_total              counter    how             leases taken in the store: free, handoff, takeover (the owner's lease expired)
//	shardflow_lease_group_workers                gauge      -               live workers of the application, as this worker sees them
//	shardflow_lease_group_held                   gauge      member          readable shards each live worker holds, as this worker sees them
//	shardflow_lease_balance_ratio                gauge      -               busiest worker over the mean in the current plan (1 is perfect)
//	shardflow_source_errors_total                counter    api, code       failed Kinesis calls of the source, by API and AWS error code
//	shardflow_output_rows_total                  counter    output          rows handed to an output
//	shardflow_firehose_calls_total               counter    stream          PutRecordBatch calls, resends included
//	shardflow_firehose_call_errors_total         counter    stream          calls that failed as a whole (throttled, network, 5xx)
//	shardflow_firehose_retries_total             counter    stream          calls that resent records an earlier call failed
//	shardflow_firehose_records_total             counter    stream          Firehose records sent (each packs many rows; resends counted again)
//	shardflow_firehose_failed_records_total      counter    stream          records rejected inside a call or by a failed call (they are resent)
//	shardflow_firehose_payload_bytes_total       counter    stream          record data bytes sent (resends counted again)
//	shardflow_firehose_billed_bytes_total        counter    stream          billed bytes of accepted records (each rounded up to 5 KiB)
//	shardflow_firehose_call_duration_seconds     histogram  stream          duration of one PutRecordBatch call
//	shardflow_dead_letter_rows_total             counter    reason          rows written to dead-letter, by reason code (invalid_json, oversize_row, …)
//	shardflow_input_skipped_total                counter    reason          input that was no row and not bad: cloudwatch_control_message, csv_header, empty_line
//	shardflow_redis_call_duration_seconds        histogram  op              duration of one Redis round trip (command, script, pipeline)
//	shardflow_redis_errors_total                 counter    op              Redis round trips that failed
//	shardflow_window_flushes_total               counter    op              flushes of a shard's partial aggregates applied to Redis
//	shardflow_window_flushed_keys_total          counter    op              Redis keys written by those flushes
//	shardflow_window_emissions_total             counter    op              emissions of closed windows acked by the sink
//	shardflow_window_emitted_rows_total          counter    op              result rows emitted
//	shardflow_late_rows_total                    counter    op, action      rows later than their emitted window: drop, dead_letter, update
//	shardflow_window_watermark_timestamp_seconds gauge      op              Unix time of the operator's global watermark (emitter lock holder only)
//	shardflow_window_emitted_through_timestamp_seconds gauge op             Unix time through which windows are emitted (emitter lock holder only)
//	shardflow_window_watermark_held_by           gauge      op, shard, reason 1 for the shard holding the operator's watermark: event_time, behind, stalled, no_owner, unread (lock holder only)
//	shardflow_s3_objects_total                   counter    output          Parquet files a direct S3 output uploaded
//	shardflow_s3_bytes_total                     counter    output          their bytes
//	shardflow_s3_rows_total                      counter    output          their rows
//	shardflow_s3_upload_errors_total             counter    output          files given up on after retry_timeout (rows not checkpointed)
//	shardflow_s3_retries_total                   counter    output          S3 calls that failed and were retried
//	shardflow_lookup_cache_lookups_total         counter    lookup          keys a Redis lookup looked up in its cache
//	shardflow_lookup_cache_hits_total            counter    lookup          of those, served by the cache (hit ratio = hits / lookups)
//
// With a registry of its own (Options.Registry nil) the Go runtime (go_*)
// and process (process_*) collectors are exposed too.
//
// Histogram buckets (seconds): Firehose 5 ms–10 s, Redis 0.5 ms–1 s, batch
// ack 10 ms–60 s, checkpoint lag 0.5 s–1 h; see the *Buckets variables.
//
// Useful expressions:
//
//	sum by (pipeline) (rate(shardflow_records_read_total[5m]))                  records/s in
//	max by (pipeline) (shardflow_behind_latest_seconds)                         read lag of the slowest shard
//	time() - min by (pipeline) (shardflow_last_checkpoint_timestamp_seconds)    oldest checkpoint (stuck shard)
//	rate(shardflow_firehose_billed_bytes_total[5m]) / rate(shardflow_firehose_payload_bytes_total[5m])   billing overhead of packing
//	sum by (reason) (increase(shardflow_dead_letter_rows_total[1h]))           bad input by reason
//	time() - max by (pipeline, op) (shardflow_window_watermark_timestamp_seconds)   how far event time lags wall time
//	max by (pipeline, op, shard) (shardflow_window_watermark_held_by{reason!="event_time"})   a shard that is not flowing holds every window
//	rate(shardflow_lookup_cache_hits_total[5m]) / rate(shardflow_lookup_cache_lookups_total[5m])   cache hit ratio
package prom
