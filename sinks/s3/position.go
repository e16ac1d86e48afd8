package s3

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/shardflow/shardflow/flow"
)

// position is where a row sits in its shard: the Kinesis sequence number of
// its record and, for a KPL sub-record, its index in the aggregate. Rows of
// a shard arrive in position order.
type position struct {
	seq string
	sub int64
}

// String renders p as it appears in object keys and manifests: the
// sequence number, with ".<sub>" for a sub-record other than the first.
func (p position) String() string {
	if p.sub == 0 {
		return p.seq
	}
	return p.seq + "." + strconv.FormatInt(p.sub, 10)
}

func (p position) isZero() bool { return p.seq == "" && p.sub == 0 }

// parsePosition reads what String wrote.
func parsePosition(s string) (position, error) {
	seq, sub, found := strings.Cut(s, ".")
	if seq == "" {
		return position{}, fmt.Errorf("s3: position %q: empty sequence number", s)
	}
	p := position{seq: seq}
	if found {
		n, err := strconv.ParseInt(sub, 10, 64)
		if err != nil || n < 0 {
			return position{}, fmt.Errorf("s3: position %q: bad sub-sequence", s)
		}
		p.sub = n
	}
	return p, nil
}

// cmp orders positions: sequence numbers as the decimal integers Kinesis
// makes them (a longer number is larger once leading zeros are dropped),
// then sub-sequences. The zero position is before every other.
func (p position) cmp(q position) int {
	if c := flow.CompareSequence(p.seq, q.seq); c != 0 {
		return c
	}
	switch {
	case p.sub < q.sub:
		return -1
	case p.sub > q.sub:
		return 1
	}
	return 0
}
