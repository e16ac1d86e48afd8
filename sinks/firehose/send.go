package firehose

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/shardflow/shardflow/metrics"
)

// send is one of MaxInFlight sender goroutines.
func (o *Output) send() {
	defer o.senderWG.Done()
	for req := range o.requests {
		err := o.put(req)
		o.completeCall(req.id, err)
	}
}

// put delivers every record of req, resending only the failed ones, until
// they are all accepted or the retry timeout passes.
func (o *Output) put(req *request) error {
	for _, r := range req.records {
		o.stats.records.Add(1)
		o.stats.billed.Add(int64(billed(len(r))))
	}
	deadline := time.Now().Add(o.opts.RetryTimeout)
	pending := make([]types.Record, len(req.records))
	for i, r := range req.records {
		pending[i] = types.Record{Data: r}
	}
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			o.stats.retries.Add(1)
			if err := o.backoff(attempt, deadline); err != nil {
				o.stats.failedCalls.Add(1)
				return fmt.Errorf("firehose: put to %s: %d of %d records still failing: %w",
					o.opts.DeliveryStream, len(pending), len(req.records), err)
			}
		}
		o.stats.calls.Add(1)
		call := metrics.FirehoseCall{Records: len(pending), Attempt: attempt}
		for _, r := range pending {
			call.PayloadBytes += len(r.Data)
		}
		began := time.Now()
		out, err := o.opts.Client.PutRecordBatch(context.Background(), &firehose.PutRecordBatchInput{
			DeliveryStreamName: aws.String(o.opts.DeliveryStream),
			Records:            pending,
		})
		call.Latency = time.Since(began)
		if err == nil && len(out.RequestResponses) != len(pending) {
			err = fmt.Errorf("response has %d entries for %d records", len(out.RequestResponses), len(pending))
		}
		if err != nil {
			// Never guess which records landed: resend all of them.
			call.Err = err
			o.opts.Hooks.FirehoseCall(o.opts.DeliveryStream, call)
			o.log.Warn("PutRecordBatch failed; retrying", "records", len(pending), "attempt", attempt+1, "err", err)
			continue
		}
		for i, rr := range out.RequestResponses {
			if rr.ErrorCode != nil {
				call.FailedRecords++
			} else {
				call.BilledBytes += billed(len(pending[i].Data))
			}
		}
		o.opts.Hooks.FirehoseCall(o.opts.DeliveryStream, call)
		if call.FailedRecords == 0 {
			return nil
		}
		// Keep only the records Firehose failed, in their order.
		kept := pending[:0]
		var firstCode string
		for i, rr := range out.RequestResponses {
			if rr.ErrorCode != nil {
				if firstCode == "" {
					firstCode = aws.ToString(rr.ErrorCode) + ": " + aws.ToString(rr.ErrorMessage)
				}
				kept = append(kept, pending[i])
			}
		}
		o.stats.failedRecords.Add(int64(len(kept)))
		o.log.Debug("records failed inside PutRecordBatch; resending them", "failed", len(kept), "first_error", firstCode)
		pending = kept
	}
}

// billed is what Firehose bills for a record of n bytes.
func billed(n int) int { return (n + BillingIncrement - 1) / BillingIncrement * BillingIncrement }

var errRetryTimeout = errors.New("retry timeout exceeded")

// backoff sleeps with exponential backoff and full jitter, or returns an
// error when the deadline has passed or the output is being aborted.
func (o *Output) backoff(attempt int, deadline time.Time) error {
	if !time.Now().Before(deadline) {
		return errRetryTimeout
	}
	ceil := o.opts.RetryBase << min(attempt-1, 20)
	if ceil > o.opts.RetryMaxDelay || ceil <= 0 {
		ceil = o.opts.RetryMaxDelay
	}
	d := rand.N(ceil) + time.Millisecond
	if left := time.Until(deadline); d > left {
		d = left
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-o.closing:
		return errors.New("output aborted by Close")
	}
}

// enqueueAck registers a write that becomes durable when call lastCall (and
// every call before it) is complete.
func (o *Output) enqueueAck(lastCall uint64, ack func(error)) {
	o.ackMu.Lock()
	defer o.ackMu.Unlock()
	o.ackQueue = append(o.ackQueue, queuedAck{lastCall: lastCall, ack: ack})
	o.deliverAcksLocked()
}

// completeCall records a call's outcome and delivers every ack that is now
// due, in Write order.
func (o *Output) completeCall(id uint64, err error) {
	o.ackMu.Lock()
	defer o.ackMu.Unlock()
	if err != nil {
		o.log.Error("giving up on a PutRecordBatch call; checkpoints will not pass its rows", "err", err)
		if o.failed == nil {
			o.failed = err
		}
	}
	o.doneCalls[id] = err
	o.deliverAcksLocked()
}

func (o *Output) deliverAcksLocked() {
	for {
		if _, ok := o.doneCalls[o.through+1]; !ok {
			break
		}
		o.through++
		delete(o.doneCalls, o.through) // its failure, if any, is in o.failed
	}
	n := 0
	for n < len(o.ackQueue) && o.ackQueue[n].lastCall <= o.through {
		// Once any call failed, no write is acked as durable any more: the
		// shard's checkpoint must not pass rows that may be in the failed
		// call, and a write's rows can share calls with earlier writes.
		o.ackQueue[n].ack(o.failed)
		n++
	}
	o.ackQueue = o.ackQueue[n:]
}
