package dynamodb

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/shardflow/shardflow/checkpoints"
	"github.com/shardflow/shardflow/checkpoints/storetest"
	"github.com/shardflow/shardflow/internal/testenv"
)

func TestStoreContract(t *testing.T) {
	env := testenv.Load(t)
	client := env.DynamoDB(t)
	storetest.Run(t, func(t *testing.T) checkpoints.Store {
		table := testenv.UniqueName(t, "lease")
		s, err := New(context.Background(), client, table)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
		})
		return s
	})
}

func TestStoreEpochContract(t *testing.T) {
	env := testenv.Load(t)
	client := env.DynamoDB(t)
	storetest.RunEpoch(t, func(t *testing.T) storetest.Space {
		table := testenv.UniqueName(t, "lease")
		if err := EnsureTable(context.Background(), client, table); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
		})
		return storetest.Space{
			Open: func() checkpoints.Store {
				s, err := New(context.Background(), client, table)
				if err != nil {
					t.Fatal(err)
				}
				return s
			},
			Empty: func() {
				out, err := client.Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
				if err != nil {
					t.Fatal(err)
				}
				for _, item := range out.Items {
					k := map[string]types.AttributeValue{attrKey: item[attrKey]}
					if _, err := client.DeleteItem(context.Background(), &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: k}); err != nil {
						t.Fatal(err)
					}
				}
			},
		}
	})
}

// TestTwoWorkersCreateTheTableTogether: the KCL's own CreateTable made the
// second of two workers starting together fail (ResourceInUseException).
func TestTwoWorkersCreateTheTableTogether(t *testing.T) {
	env := testenv.Load(t)
	client := env.DynamoDB(t)
	table := testenv.UniqueName(t, "lease")
	t.Cleanup(func() {
		_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
	errs := make(chan error, 2)
	for range 2 {
		go func() { _, err := New(context.Background(), client, table); errs <- err }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
