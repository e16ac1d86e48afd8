package checkpointadmin

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The KCL lease table's attribute names (vmware-go-kcl-v2 checkpoint
// package).
const (
	attrShard      = "ShardID"
	attrOwner      = "AssignedTo"
	attrTimeout    = "LeaseTimeout"
	attrCheckpoint = "Checkpoint"
	attrParent     = "ParentShardId"
	attrToken      = "LeaseToken" // checkpoints/dynamodb's fencing token
)

// DynamoStore is the KCL's DynamoDB lease table (checkpoints/dynamodb).
type DynamoStore struct {
	client *dynamodb.Client
	table  string
}

// NewDynamoStore reads the lease table named table.
func NewDynamoStore(client *dynamodb.Client, table string) *DynamoStore {
	return &DynamoStore{client: client, table: table}
}

func (s *DynamoStore) Kind() string  { return "dynamodb" }
func (s *DynamoStore) Where() string { return "table " + s.table }

// List scans the table (one item per shard; consistent read).
func (s *DynamoStore) List(ctx context.Context) ([]Lease, error) {
	var out []Lease
	p := dynamodb.NewScanPaginator(s.client, &dynamodb.ScanInput{TableName: aws.String(s.table), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("checkpoints: dynamodb: scan %s: %w", s.table, err)
		}
		for _, item := range page.Items {
			str := func(k string) string {
				if v, ok := item[k].(*types.AttributeValueMemberS); ok {
					return v.Value
				}
				return ""
			}
			if strings.Contains(str(attrShard), "#") {
				continue // a worker's heartbeat or the store's epoch, not a shard
			}
			l := Lease{Shard: str(attrShard), Owner: str(attrOwner), Checkpoint: str(attrCheckpoint), Parent: str(attrParent), rawExpiry: str(attrTimeout)}
			if l.rawExpiry != "" {
				t, err := time.Parse(time.RFC3339Nano, l.rawExpiry)
				if err != nil {
					return nil, &ShardError{l.Shard, fmt.Errorf("checkpoints: dynamodb: %s %q: %w", attrTimeout, l.rawExpiry, err)}
				}
				l.Expires = t
			}
			out = append(out, l)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Shard < out[j].Shard })
	return out, nil
}

// SetCheckpoint: see Store. The write always removes AssignedTo: the KCL's
// lease renewal rewrites the whole item from the worker's memory
// (checkpoint included) under a condition on AssignedTo and LeaseTimeout,
// so an owner left in place — even of an expired lease, whose worker may
// only be paused — could put its old checkpoint back.
func (s *DynamoStore) SetCheckpoint(ctx context.Context, seen Lease, checkpoint string, revoke bool, now time.Time) error {
	if seen.Live(now) && !revoke {
		return &ShardError{seen.Shard, fmt.Errorf("%w (owner %s)", ErrLeaseLive, seen.Owner)}
	}
	in := &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table),
		Key:       map[string]types.AttributeValue{attrShard: &types.AttributeValueMemberS{Value: seen.Shard}},
		// The fencing token moves on, as in Redis: a worker that held the
		// shard sees a rewind, not a store that went back.
		UpdateExpression:         aws.String("SET #cp = :cp, #tok = if_not_exists(#tok, :zero) + :one REMOVE #owner"),
		ExpressionAttributeNames: map[string]string{"#cp": attrCheckpoint, "#owner": attrOwner, "#tok": attrToken},
		ExpressionAttributeValues: map[string]types.AttributeValue{":cp": &types.AttributeValueMemberS{Value: checkpoint},
			":zero": &types.AttributeValueMemberN{Value: "0"}, ":one": &types.AttributeValueMemberN{Value: "1"}},
	}
	switch {
	case seen.Owner == "":
		in.ConditionExpression = aws.String("attribute_not_exists(#owner)")
	default:
		in.ConditionExpression = aws.String("#owner = :owner AND #timeout = :timeout")
		in.ExpressionAttributeNames["#timeout"] = attrTimeout
		in.ExpressionAttributeValues[":owner"] = &types.AttributeValueMemberS{Value: seen.Owner}
		in.ExpressionAttributeValues[":timeout"] = &types.AttributeValueMemberS{Value: seen.rawExpiry}
	}
	if _, err := s.client.UpdateItem(ctx, in); err != nil {
		var cond *types.ConditionalCheckFailedException
		if errors.As(err, &cond) {
			return &ShardError{seen.Shard, ErrLeaseChanged}
		}
		return &ShardError{seen.Shard, fmt.Errorf("checkpoints: dynamodb: update %s: %w", s.table, err)}
	}
	return nil
}
