package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	chk "github.com/vmware/vmware-go-kcl-v2/clientlibrary/checkpoint"
	par "github.com/vmware/vmware-go-kcl-v2/clientlibrary/partition"
)

// shardGraph knows each shard's parents (both of them after a merge) from
// ListShards. The KCL waits only on ParentShardId, and treats a parent that
// has no lease record yet as gone; the gate built on this graph waits on
// every parent until it reached SHARD_END or left the stream (retention).
type shardGraph struct {
	kc     *kinesis.Client
	stream string

	mu      sync.Mutex
	parents map[string][]string // shard → its parents; present for every listed shard
	listed  time.Time
}

func newShardGraph(kc *kinesis.Client, stream string) *shardGraph {
	return &shardGraph{kc: kc, stream: stream, parents: map[string][]string{}}
}

// refresh lists the stream's shards (open and closed, within retention).
func (g *shardGraph) refresh(ctx context.Context) error {
	parents := map[string][]string{}
	in := &kinesis.ListShardsInput{StreamName: aws.String(g.stream)}
	for {
		out, err := g.kc.ListShards(ctx, in)
		if err != nil {
			return fmt.Errorf("consumer: list shards of %s: %w", g.stream, err)
		}
		for _, s := range out.Shards {
			var ps []string
			for _, p := range []*string{s.ParentShardId, s.AdjacentParentShardId} {
				if p != nil && *p != "" {
					ps = append(ps, *p)
				}
			}
			parents[aws.ToString(s.ShardId)] = ps
		}
		if out.NextToken == nil {
			break
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
	g.mu.Lock()
	g.parents, g.listed = parents, time.Now()
	g.mu.Unlock()
	return nil
}

// parentRelistInterval bounds how often a waiting child re-lists shards to
// learn whether a never-leased parent left the stream.
const parentRelistInterval = 10 * time.Second

func (g *shardGraph) age() time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	return time.Since(g.listed)
}

// lookup returns a shard's parents and whether the shard is listed.
func (g *shardGraph) lookup(shard string) ([]string, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	ps, ok := g.parents[shard]
	return ps, ok
}

// parentsDone reports whether every parent of shard has finished: its
// checkpoint is SHARD_END, or it is no longer in the stream.
func (c *Consumer) parentsDone(ctx context.Context, shard string) (bool, error) {
	ps, ok := c.parents.lookup(shard)
	if !ok {
		if err := c.parents.refresh(ctx); err != nil {
			return false, err
		}
		if ps, ok = c.parents.lookup(shard); !ok {
			return false, fmt.Errorf("consumer: shard %s of %s is not listed", shard, c.cfg.Stream)
		}
	}
	for _, p := range ps {
		st := &par.ShardStatus{ID: p, Mux: &sync.RWMutex{}}
		err := c.store.FetchCheckpoint(st)
		switch {
		case err == nil && st.GetCheckpoint() == chk.ShardEnd:
			continue
		case err == nil:
			return false, nil // leased, not finished
		case errors.Is(err, chk.ErrSequenceIDNotFound):
			// Never leased yet (the KCL would wrongly take this as "gone").
			// Only a parent that left the stream (past retention) counts
			// as done without SHARD_END.
			if c.parents.age() > parentRelistInterval {
				if err := c.parents.refresh(ctx); err != nil {
					return false, err
				}
			}
			if _, listed := c.parents.lookup(p); listed {
				return false, nil
			}
		default:
			return false, fmt.Errorf("consumer: checkpoint of parent %s of shard %s: %w", p, shard, err)
		}
	}
	return true, nil
}
