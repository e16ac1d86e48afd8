package consumer

import (
	"errors"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

func take(tr *ackTracker) string { s, _ := tr.takeCheckpoint(); return s }

func TestAckTrackerCheckpointsOnlyContiguousPrefix(t *testing.T) {
	tr := newAckTracker()
	a1, a2, a3 := tr.add("10", time.Time{}), tr.add("20", time.Time{}), tr.add("30", time.Time{})
	a2(nil)
	if got := take(tr); got != "" {
		t.Fatalf("checkpoint after only the 2nd batch acked = %q, want none", got)
	}
	a1(nil)
	if got := take(tr); got != "20" {
		t.Fatalf("checkpoint = %q, want 20", got)
	}
	if got := take(tr); got != "" {
		t.Fatalf("second take = %q, want none", got)
	}
	select {
	case <-tr.idleCh():
		t.Fatal("idle while batch 3 is pending")
	default:
	}
	a3(nil)
	if got := take(tr); got != "30" {
		t.Fatalf("checkpoint = %q, want 30", got)
	}
	<-tr.idleCh()
}

func TestAckTrackerFailureStopsCheckpoints(t *testing.T) {
	tr := newAckTracker()
	a1, a2, a3 := tr.add("1", time.Time{}), tr.add("2", time.Time{}), tr.add("3", time.Time{})
	a1(nil)
	a2(errors.New("firehose gave up"))
	a3(nil)
	if got := take(tr); got != "" {
		t.Fatalf("checkpoint after a failure = %q, want none", got)
	}
	if tr.err() == nil {
		t.Fatal("err() = nil after a failed ack")
	}
	if n := tr.inFlight(); n != 0 {
		t.Fatalf("inFlight = %d, want 0", n)
	}
}

func TestAckTrackerDoubleAckPanics(t *testing.T) {
	tr := newAckTracker()
	a := tr.add("1", time.Time{})
	a(nil)
	defer func() {
		if recover() == nil {
			t.Fatal("second ack did not panic")
		}
	}()
	a(nil)
}

// Acks in random order: the checkpoint never passes an unacked batch, and
// ends at the last one.
func TestAckTrackerRandomOrder(t *testing.T) {
	for seed := range uint64(50) {
		r := rand.New(rand.NewPCG(seed, 1))
		tr := newAckTracker()
		const n = 200
		acks := make([]func(error), n)
		for i := range acks {
			acks[i] = tr.add(strconv.Itoa(i), time.Time{})
		}
		done := make([]bool, n)
		for _, i := range r.Perm(n) {
			acks[i](nil)
			done[i] = true
			if cp := take(tr); cp != "" {
				last, _ := strconv.Atoi(cp)
				for j := 0; j <= last; j++ {
					if !done[j] {
						t.Fatalf("seed %d: checkpoint %d passes unacked batch %d", seed, last, j)
					}
				}
			}
		}
		if tr.inFlight() != 0 {
			t.Fatalf("seed %d: %d still in flight", seed, tr.inFlight())
		}
	}
}
