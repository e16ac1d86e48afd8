package consumer

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardflow/shardflow/checkpoints"
)

// Shard is one shard of the stream.
type Shard struct {
	ID string
	// Parents are the shard's parent (after a split) or parents (after a
	// merge), "" elsewhere.
	Parents []string
	// Closed shards were split or merged: they have an ending sequence
	// number and will reach SHARD_END.
	Closed bool
	// Range is the shard's sequence number range as listed.
	Range types.SequenceNumberRange
}

// Shards lists the stream's shards, open and closed ones still in
// retention (one ListShards call per page).
func (c *Consumer) Shards(ctx context.Context) ([]Shard, error) {
	return listShards(ctx, c.kc, c.cfg.Stream)
}

func listShards(ctx context.Context, kc *kinesis.Client, stream string) ([]Shard, error) {
	var shards []Shard
	in := &kinesis.ListShardsInput{StreamName: aws.String(stream)}
	for {
		out, err := kc.ListShards(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("consumer: list shards of %s: %w", stream, err)
		}
		for _, s := range out.Shards {
			sh := Shard{ID: aws.ToString(s.ShardId)}
			for _, p := range []*string{s.ParentShardId, s.AdjacentParentShardId} {
				if p != nil && *p != "" {
					sh.Parents = append(sh.Parents, *p)
				}
			}
			if r := s.SequenceNumberRange; r != nil {
				sh.Range = *r
				sh.Closed = r.EndingSequenceNumber != nil
			}
			shards = append(shards, sh)
		}
		if out.NextToken == nil {
			sort.Slice(shards, func(i, j int) bool { return shards[i].ID < shards[j].ID })
			return shards, nil
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
}

// shardGraph is the stream's last listing: every shard with its parents
// (both after a merge; the KCL honours only ParentShardId).
type shardGraph struct {
	kc     *kinesis.Client
	stream string
	health *sourceHealth

	mu     sync.Mutex
	shards []Shard
	byID   map[string]Shard
	listed time.Time
}

func newShardGraph(kc *kinesis.Client, stream string, h *sourceHealth) *shardGraph {
	return &shardGraph{kc: kc, stream: stream, health: h, byID: map[string]Shard{}}
}

// refresh lists the stream's shards; on failure the previous listing stays.
func (g *shardGraph) refresh(ctx context.Context) error {
	shards, err := listShards(ctx, g.kc, g.stream)
	g.health.listed(time.Now(), err)
	if err != nil {
		g.health.apiError("ListShards", err)
		return err
	}
	byID := make(map[string]Shard, len(shards))
	for _, s := range shards {
		byID[s.ID] = s
	}
	g.mu.Lock()
	g.shards, g.byID, g.listed = shards, byID, time.Now()
	g.mu.Unlock()
	return nil
}

// snapshot returns the last listing (shared; do not modify).
func (g *shardGraph) snapshot() ([]Shard, map[string]Shard, time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.shards, g.byID, g.listed
}

func (g *shardGraph) lookup(id string) (Shard, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s, ok := g.byID[id]
	return s, ok
}

// readable reports whether shard s may be read: every parent reached
// SHARD_END or left the stream (past retention). leases is the store's view.
func readable(s Shard, byID map[string]Shard, leases map[string]checkpoints.Lease) bool {
	for _, p := range s.Parents {
		if _, listed := byID[p]; !listed {
			continue
		}
		if leases[p].Checkpoint != checkpoints.ShardEnd {
			return false
		}
	}
	return true
}
