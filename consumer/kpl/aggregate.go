package kpl

import (
	"crypto/md5"

	"google.golang.org/protobuf/encoding/protowire"
)

// Aggregate packs records into one KPL aggregated record, all under one
// partition key (a real KPL only aggregates records bound for one shard).
// It exists for load generation and tests; shardflow itself only reads
// aggregates.
func Aggregate(partitionKey string, records [][]byte) []byte {
	body := protowire.AppendTag(nil, 1, protowire.BytesType)
	body = protowire.AppendString(body, partitionKey)
	for _, data := range records {
		var r []byte
		r = protowire.AppendTag(r, 1, protowire.VarintType)
		r = protowire.AppendVarint(r, 0)
		r = protowire.AppendTag(r, 3, protowire.BytesType)
		r = protowire.AppendBytes(r, data)
		body = protowire.AppendTag(body, 3, protowire.BytesType)
		body = protowire.AppendBytes(body, r)
	}
	sum := md5.Sum(body)
	out := make([]byte, 0, len(Magic)+len(body)+md5.Size)
	out = append(append(out, Magic...), body...)
	return append(out, sum[:]...)
}
