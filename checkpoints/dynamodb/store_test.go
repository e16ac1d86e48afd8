package dynamodb

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

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
