package put

import (
	"context"
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"math/big"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/shardflow/shardflow/consumer/kpl"
	"github.com/shardflow/shardflow/ingest/state"
)

// aggregate is a KPL aggregated record under construction: the protobuf
// AggregatedRecord's partition key table and records, written as they
// come (see consumer/kpl for the format; its Deaggregate reads these).
type aggregate struct {
	pk       []byte // the aggregate's own partition key
	ehk      string // explicit hash key: the shard's start (keyed)
	keys     map[string]uint64
	keyTable []byte // field 1 entries
	records  []byte // field 3 entries
	tickets  []state.Ticket
	n, bytes int
	budget   int64
	first    time.Time
}

// size is the encoded size: magic, protobuf, MD5.
func (a *aggregate) size() int { return len(kpl.Magic) + len(a.keyTable) + len(a.records) + md5.Size }

func (s *Sender) aggregateAdd(key, data []byte, t state.Ticket, budget int64, now time.Time) error {
	a := s.bucket(key)
	idx, known := uint64(0), true
	if s.o.KeyedAggregation {
		idx, known = a.keys[string(key)]
		if !known {
			idx = uint64(len(a.keys))
		}
	}
	inner := protowire.SizeTag(1) + protowire.SizeVarint(idx) + protowire.SizeTag(3) + protowire.SizeBytes(len(data))
	grow := protowire.SizeTag(3) + protowire.SizeBytes(inner)
	if !known {
		grow += protowire.SizeTag(1) + protowire.SizeBytes(len(key))
	}
	if a.n > 0 && a.size()+grow > s.o.AggregateMaxBytes {
		s.emitAggregate(a, now)
		return s.aggregateAdd(key, data, t, budget, now)
	}
	if a.n == 0 {
		a.first = now
		if s.o.KeyedAggregation {
			a.pk = append(a.pk[:0], key...)
		} else {
			a.pk = append(a.pk[:0], s.randomKey()...)
			a.keyTable = protowire.AppendTag(a.keyTable, 1, protowire.BytesType)
			a.keyTable = protowire.AppendBytes(a.keyTable, a.pk)
		}
	}
	if !known {
		a.keys[string(key)] = idx
		a.keyTable = protowire.AppendTag(a.keyTable, 1, protowire.BytesType)
		a.keyTable = protowire.AppendBytes(a.keyTable, key)
	}
	a.records = protowire.AppendTag(a.records, 3, protowire.BytesType)
	a.records = protowire.AppendVarint(a.records, uint64(inner))
	a.records = protowire.AppendTag(a.records, 1, protowire.VarintType)
	a.records = protowire.AppendVarint(a.records, idx)
	a.records = protowire.AppendTag(a.records, 3, protowire.BytesType)
	a.records = protowire.AppendBytes(a.records, data)
	a.tickets = append(a.tickets, t)
	a.n++
	a.bytes += len(data)
	a.budget += budget
	return nil
}

// emitAggregate finishes a as one Kinesis record of the current call.
func (s *Sender) emitAggregate(a *aggregate, now time.Time) {
	s.md5.Reset()
	s.md5.Write(a.keyTable)
	s.md5.Write(a.records)
	sum := s.md5.Sum(s.sum[:0])
	s.appendEntry(a.pk, a.ehk, false, a.tickets, a.bytes, a.budget, now, magic, a.keyTable, a.records, sum)
	clear(a.keys)
	clear(a.tickets)
	a.keyTable, a.records, a.tickets = a.keyTable[:0], a.records[:0], a.tickets[:0]
	a.n, a.bytes, a.budget = 0, 0, 0
}

// bucket returns the aggregate a record with key joins: the one aggregate,
// or (keyed) the one of the shard the key hashes to.
func (s *Sender) bucket(key []byte) *aggregate {
	if !s.o.KeyedAggregation {
		if len(s.aggs) == 0 {
			s.aggs = []*aggregate{{keys: map[string]uint64{}}}
		}
		return s.aggs[0]
	}
	m := s.shardsP.Load()
	if m != s.aggMap {
		// The shards changed: send what was grouped by the old map.
		now := time.Now()
		for _, a := range s.aggs {
			if a.n > 0 {
				s.emitAggregate(a, now)
			}
		}
		s.aggs = make([]*aggregate, len(m.starts))
		for i := range s.aggs {
			s.aggs[i] = &aggregate{keys: map[string]uint64{}, ehk: m.startKeys[i]}
		}
		s.aggMap = m
	}
	return s.aggs[m.index(key)]
}

// shardMap is the open shards' hash key ranges, by start.
type shardMap struct {
	starts    [][2]uint64 // 128-bit starting hash keys, ascending
	startKeys []string    // the same, in decimal (ExplicitHashKey)
}

// index returns the shard whose range holds the MD5 of key, as Kinesis
// maps partition keys to shards.
func (m *shardMap) index(key []byte) int {
	h := md5.Sum(key)
	v := [2]uint64{binary.BigEndian.Uint64(h[:8]), binary.BigEndian.Uint64(h[8:])}
	i := sort.Search(len(m.starts), func(i int) bool {
		s := m.starts[i]
		return s[0] > v[0] || (s[0] == v[0] && s[1] > v[1])
	})
	return max(i-1, 0)
}

func (s *Sender) readShards(ctx context.Context) (*shardMap, error) {
	type shard struct {
		start [2]uint64
		key   string
	}
	var shards []shard
	in := &kinesis.ListShardsInput{StreamName: aws.String(s.o.Stream)}
	for {
		out, err := s.o.Kinesis.ListShards(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("put: ListShards %s: %w", s.o.Stream, err)
		}
		for _, sh := range out.Shards {
			if sh.SequenceNumberRange != nil && sh.SequenceNumberRange.EndingSequenceNumber != nil {
				continue // closed
			}
			if sh.HashKeyRange == nil || sh.HashKeyRange.StartingHashKey == nil {
				continue
			}
			n, ok := new(big.Int).SetString(*sh.HashKeyRange.StartingHashKey, 10)
			if !ok || n.Sign() < 0 || n.BitLen() > 128 {
				return nil, fmt.Errorf("put: ListShards %s: bad starting hash key %q", s.o.Stream, *sh.HashKeyRange.StartingHashKey)
			}
			var b [16]byte
			n.FillBytes(b[:])
			shards = append(shards, shard{[2]uint64{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}, *sh.HashKeyRange.StartingHashKey})
		}
		if out.NextToken == nil {
			break
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
	if len(shards) == 0 {
		return nil, fmt.Errorf("put: stream %s has no open shards", s.o.Stream)
	}
	sort.Slice(shards, func(i, j int) bool {
		a, b := shards[i].start, shards[j].start
		return a[0] < b[0] || (a[0] == b[0] && a[1] < b[1])
	})
	m := &shardMap{}
	for _, sh := range shards {
		m.starts = append(m.starts, sh.start)
		m.startKeys = append(m.startKeys, sh.key)
	}
	return m, nil
}

// refreshShards re-reads the shard map every ShardRefresh until Close.
func (s *Sender) refreshShards() {
	defer close(s.refreshDone)
	t := time.NewTicker(s.o.ShardRefresh)
	defer t.Stop()
	for {
		select {
		case <-s.stopRefresh:
			return
		case <-t.C:
		}
		m, err := s.readShards(s.ctx)
		if err != nil {
			s.log.Warn("reading the shard map failed; keeping the old one", "err", err)
			continue
		}
		if old := s.shardsP.Load(); !sameShards(old, m) {
			s.log.Info("shard map changed", "open_shards", len(m.starts))
			s.shardsP.Store(m)
		}
	}
}

func sameShards(a, b *shardMap) bool {
	if a == nil || len(a.startKeys) != len(b.startKeys) {
		return false
	}
	for i := range a.startKeys {
		if a.startKeys[i] != b.startKeys[i] {
			return false
		}
	}
	return true
}

var magic = []byte(kpl.Magic)
