package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	chk "github.com/vmware/vmware-go-kcl-v2/clientlibrary/checkpoint"
	kclcfg "github.com/vmware/vmware-go-kcl-v2/clientlibrary/config"
	par "github.com/vmware/vmware-go-kcl-v2/clientlibrary/partition"

	"github.com/shardflow/shardflow/checkpoints"
)

// Store builds the KCL checkpointer for one worker. The KCL's checkpointer
// reads the worker's own configuration (worker id, lease duration, table),
// so it is built from that configuration rather than from separate options.
type Store struct {
	client *dynamodb.Client
}

// New ensures table exists and is ACTIVE and returns a Store using client.
func New(ctx context.Context, client *dynamodb.Client, table string) (*Store, error) {
	if err := EnsureTable(ctx, client, table); err != nil {
		return nil, err
	}
	return &Store{client: client}, nil
}

// Checkpointer returns the KCL DynamoDB checkpointer for the worker whose
// configuration is k (k.TableName names the lease table), with its
// checkpoint write fenced (see fencedCheckpoint).
func (s *Store) Checkpointer(k *kclcfg.KinesisClientLibConfiguration) chk.Checkpointer {
	return &fencedCheckpoint{
		DynamoCheckpoint: chk.NewDynamoCheckpoint(k).WithDynamoDB(s.client),
		client:           s.client, table: k.TableName, worker: k.WorkerID,
	}
}

// fencedCheckpoint replaces the KCL's CheckpointSequence, an unconditional
// PutItem that also rewrites the lease owner (so a worker resuming from a
// pause wrote its stale checkpoint and re-took the lease: the 27 %
// duplicates in shared/notes/kcl-v1.0.0.md), with an update of the
// checkpoint alone, conditional on this worker still owning the lease.
type fencedCheckpoint struct {
	*chk.DynamoCheckpoint
	client *dynamodb.Client
	table  string
	worker string
}

func (f *fencedCheckpoint) CheckpointSequence(shard *par.ShardStatus) error {
	_, err := f.client.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName:           aws.String(f.table),
		Key:                 map[string]types.AttributeValue{chk.LeaseKeyKey: &types.AttributeValueMemberS{Value: shard.ID}},
		UpdateExpression:    aws.String("SET #cp = :cp"),
		ConditionExpression: aws.String("#owner = :me"),
		ExpressionAttributeNames: map[string]string{
			"#cp": chk.SequenceNumberKey, "#owner": chk.LeaseOwnerKey,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":cp": &types.AttributeValueMemberS{Value: shard.GetCheckpoint()},
			":me": &types.AttributeValueMemberS{Value: f.worker},
		},
	})
	var cond *types.ConditionalCheckFailedException
	if errors.As(err, &cond) {
		return fmt.Errorf("checkpoints/dynamodb: table %s, shard %s, worker %s: %w", f.table, shard.ID, f.worker, checkpoints.ErrLeaseLost)
	}
	if err != nil {
		return fmt.Errorf("checkpoints/dynamodb: table %s, shard %s: checkpoint: %w", f.table, shard.ID, err)
	}
	return nil
}

// EnsureTable creates the lease table if it does not exist and waits until it
// is ACTIVE. Concurrent callers are fine: losing the create race is success.
func EnsureTable(ctx context.Context, client *dynamodb.Client, table string) error {
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(chk.LeaseKeyKey), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(chk.LeaseKeyKey), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("checkpoints/dynamodb: create lease table %s: %w", table, err)
	}
	w := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay = 100 * time.Millisecond
		o.MaxDelay = 2 * time.Second
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, 2*time.Minute); err != nil {
		return fmt.Errorf("checkpoints/dynamodb: wait for lease table %s: %w", table, err)
	}
	return nil
}
