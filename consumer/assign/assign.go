package assign

import (
	"math"
	"sort"
	"time"
)

// Mode is how shards are weighed.
type Mode string

const (
	// Count balances the number of shards per worker.
	Count Mode = "count"
	// Throughput balances the measured incoming bytes/s per worker.
	Throughput Mode = "throughput"
)

// Defaults for Options.
const (
	DefaultMargin    = 0.1
	DefaultMinTenure = 30 * time.Second
)

// Worker is one live worker.
type Worker struct {
	ID string
	// Leaving workers take nothing and give everything away.
	Leaving bool
	// MaxShards caps what the worker holds (0: no cap).
	MaxShards int
}

// Shard is one readable, unfinished shard.
type Shard struct {
	ID string
	// Owner is the live owner, "" when nobody holds the lease.
	Owner string
	// Successor is who the shard is being handed over or reserved to.
	Successor string
	// Acquired is when Owner took it (throughput mode's tenure).
	Acquired time.Time
	// Load is the shard's incoming bytes/s (0 when unknown).
	Load float64
}

// Options tune a plan.
type Options struct {
	Mode Mode
	// Margin (throughput): the fraction of the mean worker load a move
	// must take off the busier worker (default DefaultMargin).
	Margin float64
	// MinTenure (throughput): how long a lease stays with its owner
	// before it may move for balance (default DefaultMinTenure).
	MinTenure time.Duration
	Now       time.Time
}

// Plan is where every shard should be.
type Plan struct {
	// Target maps every shard to the worker that should hold it ("" when
	// no worker is eligible).
	Target map[string]string
	// Balance is max/mean of the planned per-worker weight (shard counts,
	// or loads in throughput mode); 1 is perfect, 0 with no shards.
	Balance float64
}

// Compute returns the plan for shards over workers.
func Compute(workers []Worker, shards []Shard, o Options) Plan {
	if o.Margin <= 0 {
		o.Margin = DefaultMargin
	}
	if o.MinTenure <= 0 {
		o.MinTenure = DefaultMinTenure
	}
	p := newPlanner(workers, shards)
	if len(p.ids) == 0 {
		return Plan{Target: p.target}
	}
	if o.Mode == Throughput {
		p.byThroughput(o)
	} else {
		p.byCount()
	}
	return Plan{Target: p.target, Balance: p.balance(o.Mode == Throughput)}
}

type planner struct {
	ids    []string // eligible workers, sorted
	caps   map[string]int
	shards []Shard // sorted by id
	holder map[string]string
	target map[string]string
	weight map[string]float64 // throughput only
}

func newPlanner(workers []Worker, shards []Shard) *planner {
	p := &planner{caps: map[string]int{}, holder: map[string]string{}, target: make(map[string]string, len(shards))}
	for _, w := range workers {
		if !w.Leaving {
			p.ids = append(p.ids, w.ID)
			p.caps[w.ID] = w.MaxShards
		}
	}
	sort.Strings(p.ids)
	p.shards = append([]Shard(nil), shards...)
	sort.Slice(p.shards, func(i, j int) bool { return p.shards[i].ID < p.shards[j].ID })
	for _, s := range p.shards {
		p.target[s.ID] = ""
		// A shard being handed over counts for its successor; one whose
		// owner is leaving or gone is free.
		switch {
		case p.eligible(s.Successor):
			p.holder[s.ID] = s.Successor
		case p.eligible(s.Owner):
			p.holder[s.ID] = s.Owner
		}
	}
	return p
}

func (p *planner) eligible(id string) bool {
	if id == "" {
		return false
	}
	_, ok := p.caps[id]
	return ok
}

// full reports whether w reached its cap with n shards.
func (p *planner) full(w string, n int) bool { c := p.caps[w]; return c > 0 && n >= c }

// byCount fills quotas of ⌊N/W⌋ / ⌈N/W⌉, the extras to the workers that
// hold the most already, keeping what each holds up to its quota.
func (p *planner) byCount() {
	held := map[string][]Shard{}
	for _, s := range p.shards {
		if h := p.holder[s.ID]; h != "" {
			held[h] = append(held[h], s)
		}
	}
	order := append([]string(nil), p.ids...)
	sort.SliceStable(order, func(i, j int) bool { return len(held[order[i]]) > len(held[order[j]]) })
	quota := map[string]int{}
	for left := len(p.shards); left > 0; {
		gave := false
		for _, w := range order {
			if left > 0 && !p.full(w, quota[w]) {
				quota[w]++
				left--
				gave = true
			}
		}
		if !gave {
			break // every worker is capped: the rest stay unassigned
		}
	}
	var pool []Shard
	count := map[string]int{}
	for _, w := range p.ids {
		mine := held[w]
		// Keep shards already on their way here first (a handoff in
		// progress cannot be taken back), then by id.
		sort.SliceStable(mine, func(i, j int) bool {
			ii, jj := mine[i].Owner != w, mine[j].Owner != w
			if ii != jj {
				return ii
			}
			return mine[i].ID < mine[j].ID
		})
		for i, s := range mine {
			if i < quota[w] {
				p.target[s.ID] = w
				count[w]++
			} else {
				pool = append(pool, s)
			}
		}
	}
	for _, s := range p.shards {
		if p.holder[s.ID] == "" {
			pool = append(pool, s)
		}
	}
	sort.Slice(pool, func(i, j int) bool { return pool[i].ID < pool[j].ID })
	for _, s := range pool {
		best, deficit := "", 0
		for _, w := range p.ids {
			if d := quota[w] - count[w]; d > deficit {
				best, deficit = w, d
			}
		}
		if best == "" {
			break
		}
		p.target[s.ID] = best
		count[best]++
	}
}

// byThroughput places free shards on the least loaded workers, then moves
// shards from busy to idle workers where that pays by the margin.
func (p *planner) byThroughput(o Options) {
	p.weight = make(map[string]float64, len(p.shards))
	var sum float64
	var known int
	for _, s := range p.shards {
		if s.Load > 0 {
			sum += s.Load
			known++
		}
	}
	// Every shard weighs at least a small base, so that unmeasured shards
	// (a new stream, no traffic yet) are spread by count.
	base := 1.0
	if known > 0 {
		base = math.Max(base, 0.05*sum/float64(known))
	}
	for _, s := range p.shards {
		p.weight[s.ID] = s.Load + base
	}
	load := map[string]float64{}
	count := map[string]int{}
	busy := map[string]bool{} // in a move this cycle (or one in progress)
	var free []Shard
	for _, s := range p.shards {
		h := p.holder[s.ID]
		if h == "" || p.full(h, count[h]) {
			free = append(free, s)
			continue
		}
		p.target[s.ID] = h
		load[h] += p.weight[s.ID]
		count[h]++
		if s.Successor != "" && s.Successor == h {
			busy[h] = true
			if p.eligible(s.Owner) {
				busy[s.Owner] = true
			}
		}
	}
	sort.SliceStable(free, func(i, j int) bool { return p.weight[free[i].ID] > p.weight[free[j].ID] })
	for _, s := range free {
		best := ""
		for _, w := range p.ids {
			if p.full(w, count[w]) {
				continue
			}
			if best == "" || load[w] < load[best] || load[w] == load[best] && count[w] < count[best] {
				best = w
			}
		}
		if best == "" {
			break
		}
		p.target[s.ID] = best
		load[best] += p.weight[s.ID]
		count[best]++
	}
	var total float64
	for _, w := range p.ids {
		total += load[w]
	}
	mean := total / float64(len(p.ids))
	// Each round moves one shard between two workers not yet in a move:
	// from the busiest worker that can give one to the least loaded,
	// where that cuts the giver by the margin. The busiest worker may be
	// unable to give (one hot shard); then the next busiest gives, so that
	// an idle worker still takes load from a crowded one.
	for {
		lo := ""
		for _, w := range p.ids {
			if !busy[w] && !p.full(w, count[w]) && (lo == "" || load[w] < load[lo]) {
				lo = w
			}
		}
		if lo == "" {
			return
		}
		givers := make([]string, 0, len(p.ids))
		for _, w := range p.ids {
			if !busy[w] && w != lo && load[w] > load[lo] {
				givers = append(givers, w)
			}
		}
		sort.SliceStable(givers, func(i, j int) bool { return load[givers[i]] > load[givers[j]] })
		moved := false
		for _, hi := range givers {
			bestShard, bestMax := "", math.Inf(1)
			for _, s := range p.shards {
				if p.target[s.ID] != hi || s.Owner != hi || s.Successor != "" || o.Now.Sub(s.Acquired) < o.MinTenure {
					continue
				}
				// The move must cut the giver by the margin, and by half
				// the shard's own weight: undoing it would then take
				// measurement noise as large as the shard itself.
				w := p.weight[s.ID]
				if load[lo]+w > load[hi]-math.Max(o.Margin*mean, w/2) {
					continue
				}
				if m := math.Max(load[hi]-w, load[lo]+w); m < bestMax {
					bestShard, bestMax = s.ID, m
				}
			}
			if bestShard == "" {
				continue
			}
			w := p.weight[bestShard]
			p.target[bestShard] = lo
			load[hi] -= w
			load[lo] += w
			count[hi]--
			count[lo]++
			busy[hi], busy[lo] = true, true
			moved = true
			break
		}
		if !moved {
			return
		}
	}
}

// balance is max/mean of the planned per-worker weight.
func (p *planner) balance(byLoad bool) float64 {
	per := map[string]float64{}
	var total float64
	for _, s := range p.shards {
		if t := p.target[s.ID]; t != "" {
			w := 1.0
			if byLoad {
				w = p.weight[s.ID]
			}
			per[t] += w
			total += w
		}
	}
	if total == 0 {
		return 0
	}
	var hi float64
	for _, w := range p.ids {
		hi = math.Max(hi, per[w])
	}
	return hi / (total / float64(len(p.ids)))
}
