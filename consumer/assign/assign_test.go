package assign

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func workers(ids ...string) []Worker {
	ws := make([]Worker, len(ids))
	for i, id := range ids {
		ws[i] = Worker{ID: id}
	}
	return ws
}

func freeShards(n int) []Shard {
	s := make([]Shard, n)
	for i := range s {
		s[i] = Shard{ID: fmt.Sprintf("shard-%02d", i)}
	}
	return s
}

func counts(p Plan) map[string]int {
	c := map[string]int{}
	for _, w := range p.Target {
		c[w]++
	}
	return c
}

// apply completes every planned move: the shards' owners become the targets.
func apply(shards []Shard, p Plan, at time.Time) []Shard {
	out := append([]Shard(nil), shards...)
	for i := range out {
		if t := p.Target[out[i].ID]; t != out[i].Owner {
			out[i].Owner, out[i].Successor, out[i].Acquired = t, "", at
		}
	}
	return out
}

func moves(shards []Shard, p Plan) int {
	n := 0
	for _, s := range shards {
		if s.Owner != "" && p.Target[s.ID] != s.Owner {
			n++
		}
	}
	return n
}

func TestCountFreshGroupWithinOne(t *testing.T) {
	for _, tc := range []struct{ shards, workers int }{{8, 3}, {64, 1}, {64, 4}, {3, 5}, {7, 7}, {0, 2}, {100, 7}} {
		ids := make([]string, tc.workers)
		for i := range ids {
			ids[i] = fmt.Sprintf("w%d", i)
		}
		p := Compute(workers(ids...), freeShards(tc.shards), Options{Mode: Count, Now: now})
		c := counts(p)
		lo, hi := tc.shards, 0
		for _, id := range ids {
			lo, hi = min(lo, c[id]), max(hi, c[id])
		}
		if c[""] != 0 || hi-lo > 1 || tc.shards > 0 && hi != (tc.shards+tc.workers-1)/tc.workers {
			t.Errorf("%d shards over %d workers: %v", tc.shards, tc.workers, c)
		}
	}
}

// TestCountWithinOneIsAFixedPoint: from any assignment whose counts are
// within one, the plan moves nothing (the KCL's integer-division rebalance
// kept 4/2/2 forever and moved shards out of 3/3/2; this never does either).
func TestCountWithinOneIsAFixedPoint(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := range 500 {
		nw := 1 + rng.IntN(6)
		n := rng.IntN(40)
		ids := make([]string, nw)
		for i := range ids {
			ids[i] = fmt.Sprintf("w%d", i)
		}
		// Deal the shards round-robin from a random start, then shuffle
		// which shard is whose: counts are within one.
		shards := freeShards(n)
		perm := rng.Perm(n)
		start := rng.IntN(nw)
		for i, j := range perm {
			shards[j].Owner = ids[(start+i)%nw]
		}
		p := Compute(workers(ids...), shards, Options{Mode: Count, Now: now})
		if m := moves(shards, p); m != 0 {
			t.Fatalf("iteration %d: %d shards over %d workers within one, plan moves %d: %v", iter, n, nw, m, counts(p))
		}
	}
}

// TestCountConvergesInOneStep: from any state (random owners, some gone),
// one plan applied gives within-one, and the next plan moves nothing.
func TestCountConvergesInOneStep(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for iter := range 500 {
		nw := 1 + rng.IntN(6)
		n := rng.IntN(50)
		ids := make([]string, nw)
		for i := range ids {
			ids[i] = fmt.Sprintf("w%d", i)
		}
		shards := freeShards(n)
		for i := range shards {
			switch k := rng.IntN(nw + 2); {
			case k < nw:
				shards[i].Owner = ids[k]
			case k == nw:
				shards[i].Owner = "gone"
			}
		}
		p := Compute(workers(ids...), shards, Options{Mode: Count, Now: now})
		c := counts(p)
		lo, hi := n, 0
		for _, id := range ids {
			lo, hi = min(lo, c[id]), max(hi, c[id])
		}
		if c[""] != 0 || hi-lo > 1 {
			t.Fatalf("iteration %d: plan %v not within one", iter, c)
		}
		after := apply(shards, p, now)
		if m := moves(after, Compute(workers(ids...), after, Options{Mode: Count, Now: now})); m != 0 {
			t.Fatalf("iteration %d: second plan moves %d shards", iter, m)
		}
		// A shard is moved away from a live owner only when its owner
		// holds more than its quota.
		for _, s := range shards {
			if s.Owner != "" && s.Owner != "gone" && p.Target[s.ID] != s.Owner {
				had := 0
				for _, o := range shards {
					if o.Owner == s.Owner {
						had++
					}
				}
				if had <= (n+nw-1)/nw-1 {
					t.Fatalf("iteration %d: %s moved from %s, which held only %d", iter, s.ID, s.Owner, had)
				}
			}
		}
	}
}

func TestCountJoinMovesOnlyWhatTheNewWorkerNeeds(t *testing.T) {
	shards := freeShards(8)
	for i := range shards {
		shards[i].Owner = []string{"a", "b"}[i%2]
	}
	p := Compute(workers("a", "b", "c"), shards, Options{Mode: Count, Now: now})
	if c := counts(p); c["a"] != 3 || c["b"] != 3 || c["c"] != 2 {
		t.Fatalf("counts %v, want 3/3/2", c)
	}
	if m := moves(shards, p); m != 2 {
		t.Fatalf("%d moves, want 2 (one from each old worker to the new one)", m)
	}
	for _, s := range shards {
		if p.Target[s.ID] != s.Owner && p.Target[s.ID] != "c" {
			t.Errorf("%s moves from %s to %s, not to the new worker", s.ID, s.Owner, p.Target[s.ID])
		}
	}
}

func TestCountKillMovesOnlyTheVictimsShards(t *testing.T) {
	shards := freeShards(8)
	owners := []string{"a", "b", "c", "a", "b", "c", "a", "b"} // 3/3/2
	for i := range shards {
		shards[i].Owner = owners[i]
	}
	// a is gone: its shards have no live owner any more.
	for i := range shards {
		if shards[i].Owner == "a" {
			shards[i].Owner = ""
		}
	}
	p := Compute(workers("b", "c"), shards, Options{Mode: Count, Now: now})
	if c := counts(p); c["b"] != 4 || c["c"] != 4 {
		t.Fatalf("counts %v, want 4/4", c)
	}
	if m := moves(shards, p); m != 0 {
		t.Fatalf("%d held shards move, want 0", m)
	}
}

func TestLeavingWorkerGivesEverythingAway(t *testing.T) {
	shards := freeShards(6)
	for i := range shards {
		shards[i].Owner = []string{"a", "b", "c"}[i%3]
	}
	ws := workers("a", "b", "c")
	ws[2].Leaving = true
	p := Compute(ws, shards, Options{Mode: Count, Now: now})
	if c := counts(p); c["a"] != 3 || c["b"] != 3 || c["c"] != 0 {
		t.Fatalf("counts %v, want 3/3/0", c)
	}
	for _, s := range shards {
		if s.Owner != "c" && p.Target[s.ID] != s.Owner {
			t.Errorf("%s moves from %s though only c leaves", s.ID, s.Owner)
		}
	}
	ws[0].Leaving, ws[1].Leaving = true, true
	if c := counts(Compute(ws, shards, Options{Mode: Count, Now: now})); c[""] != 6 {
		t.Errorf("everyone leaving: counts %v, want every shard unassigned", c)
	}
}

func TestHandoffInProgressCountsForTheSuccessor(t *testing.T) {
	// a held 4 of 8, b 4, c joined and a is handing shard-00 to it.
	shards := freeShards(8)
	for i := range shards {
		shards[i].Owner = []string{"a", "b"}[i%2]
	}
	shards[0].Successor = "c"
	p := Compute(workers("a", "b", "c"), shards, Options{Mode: Count, Now: now})
	if p.Target["shard-00"] != "c" {
		t.Fatalf("shard-00 targeted to %s during its handoff to c", p.Target["shard-00"])
	}
	if c := counts(p); c["a"] != 3 || c["b"] != 3 || c["c"] != 2 {
		t.Fatalf("counts %v, want 3/3/2", c)
	}
	// Only b gives one more: a's handoff already counts.
	given := map[string]int{}
	for _, s := range shards {
		if p.Target[s.ID] != s.Owner && s.Successor == "" {
			given[s.Owner]++
		}
	}
	if given["a"] != 0 || given["b"] != 1 {
		t.Errorf("further moves %v, want only one from b", given)
	}
}

func TestCapsAreHonoured(t *testing.T) {
	ws := workers("a", "b", "c")
	ws[0].MaxShards = 1
	p := Compute(ws, freeShards(9), Options{Mode: Count, Now: now})
	if c := counts(p); c["a"] != 1 || c["b"] != 4 || c["c"] != 4 {
		t.Fatalf("counts %v, want 1/4/4", c)
	}
	ws[1].MaxShards, ws[2].MaxShards = 2, 2
	if c := counts(Compute(ws, freeShards(9), Options{Mode: Count, Now: now})); c[""] != 4 {
		t.Fatalf("counts %v, want 4 unassigned beyond the caps", c)
	}
}

func TestPlanDoesNotDependOnInputOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, mode := range []Mode{Count, Throughput} {
		shards := freeShards(20)
		for i := range shards {
			shards[i].Owner = []string{"a", "b", "", "c"}[rng.IntN(4)]
			shards[i].Load = float64(rng.IntN(1000))
			shards[i].Acquired = now.Add(-time.Hour)
		}
		ws := workers("a", "b", "c", "d")
		want := Compute(ws, shards, Options{Mode: mode, Now: now})
		for range 20 {
			rng.Shuffle(len(shards), func(i, j int) { shards[i], shards[j] = shards[j], shards[i] })
			rng.Shuffle(len(ws), func(i, j int) { ws[i], ws[j] = ws[j], ws[i] })
			got := Compute(ws, shards, Options{Mode: mode, Now: now})
			for id, w := range want.Target {
				if got.Target[id] != w {
					t.Fatalf("%s: shard %s → %s after shuffling, %s before", mode, id, got.Target[id], w)
				}
			}
		}
	}
}

// hotShards: 8 shards, two carry 10× the others' traffic.
func hotShards() []Shard {
	s := freeShards(8)
	for i := range s {
		s[i].Load = 100_000
		s[i].Acquired = now.Add(-time.Hour)
	}
	s[1].Load, s[6].Load = 1_000_000, 1_000_000
	return s
}

func workerLoads(shards []Shard, p Plan) map[string]float64 {
	l := map[string]float64{}
	for _, s := range shards {
		l[p.Target[s.ID]] += s.Load
	}
	return l
}

// TestThroughputSeparatesHotShards: from a count-balanced start that put
// both hot shards on one worker, moves (one per worker per cycle) reach the
// best achievable max load — the hottest shard alone, since one shard
// cannot be split — and then stop, also when measurements wobble by ±5%.
func TestThroughputSeparatesHotShards(t *testing.T) {
	ids := []string{"a", "b", "c", "d"}
	shards := hotShards()
	owners := []string{"a", "a", "b", "b", "c", "c", "d", "d"}
	owners[6], owners[0] = "a", "d" // both hot shards (1, 6) on a
	for i := range shards {
		shards[i].Owner = owners[i]
	}
	var total, hottest float64
	for _, s := range shards {
		total += s.Load
		hottest = math.Max(hottest, s.Load)
	}
	bound := math.Max(total/4, hottest) // no assignment can do better
	rng := rand.New(rand.NewPCG(7, 8))
	at := now
	moved := map[string]int{}
	for cycle := range 50 {
		noisy := append([]Shard(nil), shards...)
		for i := range noisy {
			noisy[i].Load *= 0.95 + 0.1*rng.Float64()
		}
		p := Compute(workers(ids...), noisy, Options{Mode: Throughput, Now: at, MinTenure: time.Minute})
		perWorker := map[string]int{}
		for _, s := range shards {
			if p.Target[s.ID] != s.Owner {
				moved[s.ID]++
				perWorker[s.Owner]++
				perWorker[p.Target[s.ID]]++
			}
		}
		for w, n := range perWorker {
			if n > 1 {
				t.Fatalf("cycle %d: worker %s in %d moves, want at most 1", cycle, w, n)
			}
		}
		shards = apply(shards, p, at)
		at = at.Add(2 * time.Minute) // past the tenure
	}
	final := Compute(workers(ids...), shards, Options{Mode: Throughput, Now: at})
	hi := 0.0
	for _, l := range workerLoads(shards, final) {
		hi = math.Max(hi, l)
	}
	if hi > 1.25*bound {
		t.Errorf("busiest worker %.0f B/s, bound %.0f: ratio %.2f > 1.25", hi, bound, hi/bound)
	}
	if final.Target["shard-01"] == final.Target["shard-06"] {
		t.Error("both hot shards on one worker")
	}
	for id, n := range moved {
		if n > 1 {
			t.Errorf("%s moved %d times in 50 cycles of steady (±5%%) traffic", id, n)
		}
	}
}

func TestThroughputRespectsTenure(t *testing.T) {
	shards := hotShards()
	for i := range shards {
		shards[i].Owner = []string{"a", "a", "b", "b"}[i%4]
		shards[i].Acquired = now.Add(-10 * time.Second)
	}
	shards[6].Owner = "a"
	p := Compute(workers("a", "b", "c", "d"), shards, Options{Mode: Throughput, Now: now, MinTenure: time.Minute})
	if m := moves(shards, p); m != 0 {
		t.Fatalf("%d shards moved within their tenure", m)
	}
	p = Compute(workers("a", "b", "c", "d"), shards, Options{Mode: Throughput, Now: now.Add(time.Minute), MinTenure: time.Minute})
	if m := moves(shards, p); m == 0 {
		t.Fatal("nothing moved after the tenure although two idle workers exist")
	}
}

func TestThroughputWithoutMeasurementsSpreadsByCount(t *testing.T) {
	p := Compute(workers("a", "b", "c", "d"), freeShards(8), Options{Mode: Throughput, Now: now})
	for w, n := range counts(p) {
		if n != 2 {
			t.Errorf("worker %q holds %d, want 2", w, n)
		}
	}
	if p.Balance != 1 {
		t.Errorf("balance %.2f, want 1", p.Balance)
	}
}

func TestBalance(t *testing.T) {
	shards := freeShards(8)
	for i := range shards {
		shards[i].Owner = []string{"a", "a", "a", "a", "b", "b", "c", "c"}[i]
	}
	// Count mode rebalances 4/2/2 into 3/3/2: max 3 / mean 8/3.
	if got := Compute(workers("a", "b", "c"), shards, Options{Mode: Count, Now: now}).Balance; math.Abs(got-9.0/8) > 1e-9 {
		t.Errorf("balance %.4f, want %.4f", got, 9.0/8)
	}
	if got := Compute(nil, shards, Options{Now: now}); got.Balance != 0 || len(got.Target) != 8 {
		t.Errorf("no workers: %+v", got)
	}
}

// TestThroughputHysteresis: 4 workers each with one big shard and two
// small ones, measured with ±5% noise every cycle: the plan leaves them
// where they are (without the margin, a small shard moves whenever the
// noise on the big ones tips a worker over by more than its size).
func TestThroughputHysteresis(t *testing.T) {
	shards := freeShards(12)
	for i := range shards {
		shards[i].Owner = []string{"a", "b", "c", "d"}[i%4]
		shards[i].Load = 3_000
		if i < 4 {
			shards[i].Load = 100_000
		}
		shards[i].Acquired = now.Add(-time.Hour)
	}
	rng := rand.New(rand.NewPCG(9, 10))
	at := now
	for cycle := range 200 {
		noisy := append([]Shard(nil), shards...)
		for i := range noisy {
			noisy[i].Load *= 0.95 + 0.1*rng.Float64()
		}
		p := Compute(workers("a", "b", "c", "d"), noisy, Options{Mode: Throughput, Now: at})
		if m := moves(shards, p); m != 0 {
			t.Fatalf("cycle %d: %d shards moved between equally loaded workers", cycle, m)
		}
		at = at.Add(time.Minute)
	}
}

// TestThroughputIdleWorkerTakesFromTheCrowded: the busiest workers each
// hold one hot shard (nothing to improve there), one worker holds every
// small shard and one holds nothing: the idle one still takes small shards
// from the crowded one, one per cycle, until they are even.
func TestThroughputIdleWorkerTakesFromTheCrowded(t *testing.T) {
	shards := hotShards()
	for i := range shards {
		shards[i].Owner = "a"
	}
	shards[1].Owner, shards[6].Owner = "b", "c"
	at := now
	for range 10 {
		p := Compute(workers("a", "b", "c", "d"), shards, Options{Mode: Throughput, Now: at})
		shards = apply(shards, p, at)
		at = at.Add(time.Hour)
	}
	c := map[string]int{}
	for _, s := range shards {
		c[s.Owner]++
	}
	if c["a"] != 3 || c["d"] != 3 || c["b"] != 1 || c["c"] != 1 {
		t.Errorf("owners after convergence %v, want a and d with 3 small shards each", c)
	}
}
