package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/shardflow/shardflow/checkpoints"
)

// Attribute names. The first five are the KCL's (vmware-go-kcl-v2), so a
// table it wrote keeps its checkpoints; the rest are shardflow's.
const (
	attrKey          = "ShardID"
	attrOwner        = "AssignedTo"
	attrLeaseTimeout = "LeaseTimeout" // RFC 3339, for people and the KCL
	attrCheckpoint   = "Checkpoint"
	attrClaim        = "ClaimRequest" // the KCL's lease stealing; removed on acquisition
	attrExpires      = "LeaseExpiresMs"
	attrToken        = "LeaseToken"
	attrSuccessor    = "Successor"
	attrReserved     = "ReservedUntilMs"
	attrAcquired     = "AcquiredMs"
	attrLoad         = "Load"
	attrKind         = "Kind"
	attrLeaving      = "Leaving"
)

// workerKeyPrefix starts the key of a worker's heartbeat item; Kinesis
// shard ids never contain '#'.
const workerKeyPrefix = "worker#"

// epochItemKey is the key of the item that holds the application's store
// epoch (attributes attrEpoch and attrEpochCreated).
const (
	epochItemKey     = "store#epoch"
	attrEpoch        = "Epoch"
	attrEpochCreated = "EpochCreatedMs"
)

// forgetWorkersAfter: an expired heartbeat older than this is deleted.
const forgetWorkersAfter = time.Hour

// renewConcurrency bounds the UpdateItem calls of one Renew.
const renewConcurrency = 8

// Store is one lease table's store. It is safe for concurrent use.
type Store struct {
	client *dynamodb.Client
	table  string
	// bound is the epoch Bind read (nil before).
	bound atomic.Pointer[checkpoints.Epoch]
}

var _ checkpoints.Store = (*Store)(nil)

// New ensures table exists and is ACTIVE and returns its store.
func New(ctx context.Context, client *dynamodb.Client, table string) (*Store, error) {
	if err := EnsureTable(ctx, client, table); err != nil {
		return nil, err
	}
	return &Store{client: client, table: table}, nil
}

// Name implements checkpoints.Store.
func (s *Store) Name() string { return "dynamodb table " + s.table }

func (s *Store) fail(op, shard string, err error, detail string) error {
	return &checkpoints.LeaseError{Op: op, Store: s.Name(), Shard: shard, Detail: detail, Err: err}
}

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}
func key(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrKey: str(id)}
}

func isConditionFailed(err error) bool {
	var c *types.ConditionalCheckFailedException
	return errors.As(err, &c)
}

// Bind implements checkpoints.Store: a PutItem of epoch conditional on
// there being none, and a consistent GetItem of what is stored.
func (s *Store) Bind(ctx context.Context, epoch checkpoints.Epoch) (checkpoints.Epoch, error) {
	if b := s.bound.Load(); b != nil {
		return *b, nil
	}
	_, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table),
		Item: map[string]types.AttributeValue{attrKey: str(epochItemKey), attrKind: str("epoch"),
			attrEpoch: str(epoch.ID), attrEpochCreated: num(epoch.Created.UnixMilli())},
		ConditionExpression:      aws.String("attribute_not_exists(#k)"),
		ExpressionAttributeNames: map[string]string{"#k": attrKey},
	})
	if err != nil && !isConditionFailed(err) {
		return checkpoints.Epoch{}, s.fail("bind", "-", err, "")
	}
	got, ok, err := s.storedEpoch(ctx)
	if err != nil {
		return checkpoints.Epoch{}, s.fail("bind", "-", err, "")
	}
	if !ok {
		return checkpoints.Epoch{}, s.fail("bind", "-", errors.New("the epoch item written is not there"), "")
	}
	s.bound.CompareAndSwap(nil, &got)
	return *s.bound.Load(), nil
}

func (s *Store) storedEpoch(ctx context.Context) (checkpoints.Epoch, bool, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table),
		Key: key(epochItemKey), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return checkpoints.Epoch{}, false, err
	}
	e, ok := decodeEpoch(out.Item)
	return e, ok, nil
}

func decodeEpoch(item map[string]types.AttributeValue) (checkpoints.Epoch, bool) {
	id := stringAttr(item, attrEpoch)
	if id == "" {
		return checkpoints.Epoch{}, false
	}
	return checkpoints.Epoch{ID: id, Created: msTime(numAttr(item, attrEpochCreated))}, true
}

// checkEpoch compares the stored epoch (ok false: none) with the bound one.
func (s *Store) checkEpoch(op, shard string, stored checkpoints.Epoch, ok bool) error {
	b := s.bound.Load()
	switch {
	case b == nil:
		return nil
	case !ok:
		return s.fail(op, shard, checkpoints.ErrStoreLost, fmt.Sprintf(
			"its epoch %s is gone: the table was emptied or replaced", b))
	case stored.ID != b.ID:
		return s.fail(op, shard, checkpoints.ErrStoreLost, fmt.Sprintf(
			"its epoch is %s, not the bound %s: the table was emptied and started again", stored, b))
	}
	return nil
}

// Heartbeat implements checkpoints.Store: one PutItem.
func (s *Store) Heartbeat(ctx context.Context, w checkpoints.Worker) error {
	_, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table),
		Item: map[string]types.AttributeValue{
			attrKey: str(workerKeyPrefix + w.ID), attrKind: str("worker"),
			attrExpires: num(w.Expires.UnixMilli()), attrLeaving: &types.AttributeValueMemberBOOL{Value: w.Leaving},
		},
	})
	if err != nil {
		return s.fail("heartbeat", "-", err, "worker "+w.ID)
	}
	return nil
}

// RemoveWorker implements checkpoints.Store.
func (s *Store) RemoveWorker(ctx context.Context, id string) error {
	if _, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.table), Key: key(workerKeyPrefix + id)}); err != nil {
		return s.fail("remove worker", "-", err, "worker "+id)
	}
	return nil
}

// View implements checkpoints.Store: one consistent Scan of the table
// (paginated), heartbeats and leases together.
func (s *Store) View(ctx context.Context, shards []string, now time.Time) (checkpoints.View, error) {
	want := make(map[string]bool, len(shards))
	for _, id := range shards {
		want[id] = true
	}
	v := checkpoints.View{Leases: make(map[string]checkpoints.Lease, len(shards))}
	var stale []string
	var epoch checkpoints.Epoch
	var hasEpoch bool
	in := &dynamodb.ScanInput{TableName: aws.String(s.table), ConsistentRead: aws.Bool(true)}
	for {
		out, err := s.client.Scan(ctx, in)
		if err != nil {
			return checkpoints.View{}, s.fail("view", "*", err, "")
		}
		for _, item := range out.Items {
			id := stringAttr(item, attrKey)
			if id == epochItemKey {
				epoch, hasEpoch = decodeEpoch(item)
				continue
			}
			if wid, ok := strings.CutPrefix(id, workerKeyPrefix); ok {
				w := checkpoints.Worker{ID: wid, Expires: msTime(numAttr(item, attrExpires))}
				if b, ok := item[attrLeaving].(*types.AttributeValueMemberBOOL); ok {
					w.Leaving = b.Value
				}
				switch {
				case !w.Expires.Before(now):
					v.Workers = append(v.Workers, w)
				case w.Expires.Before(now.Add(-forgetWorkersAfter)):
					stale = append(stale, wid)
				}
				continue
			}
			if want[id] {
				v.Leases[id] = decodeLease(item)
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	if err := s.checkEpoch("view", "*", epoch, hasEpoch); err != nil {
		return checkpoints.View{}, err
	}
	for _, id := range stale {
		_ = s.RemoveWorker(ctx, id) // best effort: the next View retries
	}
	return v, nil
}

// Shards lists every shard that has a lease item (tools).
func (s *Store) Shards(ctx context.Context) ([]string, error) {
	var ids []string
	in := &dynamodb.ScanInput{TableName: aws.String(s.table), ConsistentRead: aws.Bool(true),
		ProjectionExpression: aws.String(attrKey)}
	for {
		out, err := s.client.Scan(ctx, in)
		if err != nil {
			return nil, s.fail("list shards", "*", err, "")
		}
		for _, item := range out.Items {
			if id := stringAttr(item, attrKey); !strings.Contains(id, "#") { // not a worker's or the epoch item
				ids = append(ids, id)
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return ids, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// Acquire implements checkpoints.Store: one conditional UpdateItem (and a
// consistent GetItem to say why, when the condition fails). A bound store
// first reads its epoch item (consistent): DynamoDB's condition cannot
// span two items without a transaction, so a table emptied between that
// read and the update is caught by the next View.
func (s *Store) Acquire(ctx context.Context, shard, worker string, now time.Time, ttl time.Duration) (checkpoints.Lease, error) {
	const op = "acquire"
	if s.bound.Load() != nil {
		e, ok, err := s.storedEpoch(ctx)
		if err != nil {
			return checkpoints.Lease{}, s.fail(op, shard, err, "reading the epoch")
		}
		if err := s.checkEpoch(op, shard, e, ok); err != nil {
			return checkpoints.Lease{}, err
		}
	}
	exp := now.Add(ttl)
	// free: no owner, or an expired (or pre-shardflow, timeless) lease;
	// the caller's own stale lease counts as free too.
	const free = `(attribute_not_exists(#owner) OR #owner = :empty OR #owner = :me OR attribute_not_exists(#exp) OR #exp < :now)`
	const freeOfOthers = `(attribute_not_exists(#owner) OR #owner = :empty OR attribute_not_exists(#exp) OR #exp < :now)`
	out, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table),
		Key:       key(shard),
		UpdateExpression: aws.String("SET #owner = :me, #exp = :exp, #lt = :lt, #acq = :now, " +
			"#tok = if_not_exists(#tok, :zero) + :one REMOVE #succ, #res, #claim"),
		ConditionExpression: aws.String(`(attribute_not_exists(#cp) OR #cp <> :end) AND ` + free +
			` AND (attribute_not_exists(#succ) OR #succ = :empty OR #succ = :me OR (` + freeOfOthers +
			` AND (attribute_not_exists(#res) OR #res < :now)))`),
		ExpressionAttributeNames: map[string]string{
			"#owner": attrOwner, "#exp": attrExpires, "#lt": attrLeaseTimeout, "#acq": attrAcquired,
			"#tok": attrToken, "#succ": attrSuccessor, "#res": attrReserved, "#claim": attrClaim, "#cp": attrCheckpoint,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":me": str(worker), ":exp": num(exp.UnixMilli()), ":lt": str(exp.UTC().Format(time.RFC3339Nano)),
			":now": num(now.UnixMilli()), ":zero": num(0), ":one": num(1), ":empty": str(""), ":end": str(checkpoints.ShardEnd),
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	if err == nil {
		return decodeLease(out.Attributes), nil
	}
	if !isConditionFailed(err) {
		return checkpoints.Lease{}, s.fail(op, shard, err, "")
	}
	cur, gerr := s.get(ctx, shard)
	if gerr != nil {
		return checkpoints.Lease{}, s.fail(op, shard, checkpoints.ErrLeaseHeld, "and reading why: "+gerr.Error())
	}
	switch {
	case cur.Checkpoint == checkpoints.ShardEnd:
		return checkpoints.Lease{}, s.fail(op, shard, checkpoints.ErrShardEnded, "")
	case cur.LiveOwner(now) != "" && cur.LiveOwner(now) != worker:
		return checkpoints.Lease{}, s.fail(op, shard, checkpoints.ErrLeaseHeld,
			fmt.Sprintf("owner %s until %s", cur.Owner, cur.Expires.Format("15:04:05.000")))
	default:
		return checkpoints.Lease{}, s.fail(op, shard, checkpoints.ErrLeaseReserved, "for "+cur.Successor)
	}
}

func (s *Store) get(ctx context.Context, shard string) (checkpoints.Lease, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: key(shard), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return checkpoints.Lease{}, err
	}
	return decodeLease(out.Item), nil
}

// fencedUpdate is an UpdateItem conditional on the holding (owner and
// token) and, when live, on the lease not having expired at now.
func (s *Store) fencedUpdate(ctx context.Context, op string, h checkpoints.Holding, now time.Time, live bool,
	update string, names map[string]string, values map[string]types.AttributeValue) error {
	cond := "#owner = :me AND #tok = :tok"
	if live {
		cond += " AND #exp >= :now"
		names["#exp"] = attrExpires
		values[":now"] = num(now.UnixMilli())
	}
	names["#owner"], names["#tok"] = attrOwner, attrToken
	values[":me"], values[":tok"] = str(h.Worker), num(h.Token)
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: key(h.Shard),
		UpdateExpression: aws.String(update), ConditionExpression: aws.String(cond),
		ExpressionAttributeNames: names, ExpressionAttributeValues: values,
	})
	if isConditionFailed(err) {
		return s.fail(op, h.Shard, checkpoints.ErrLeaseLost, fmt.Sprintf("%s no longer holds token %d", h.Worker, h.Token))
	}
	if err != nil {
		return s.fail(op, h.Shard, err, "")
	}
	return nil
}

// Renew implements checkpoints.Store: one conditional UpdateItem per
// holding, a few at a time.
func (s *Store) Renew(ctx context.Context, held []checkpoints.Holding, loads []float64, now time.Time, ttl time.Duration) []error {
	errs := make([]error, len(held))
	exp := now.Add(ttl)
	sem := make(chan struct{}, renewConcurrency)
	var wg sync.WaitGroup
	for i, h := range held {
		sem <- struct{}{}
		wg.Add(1)
		go func() { // owned by Renew: it waits for every one
			defer func() { <-sem; wg.Done() }()
			update := "SET #exp = :exp, #lt = :lt"
			names := map[string]string{"#lt": attrLeaseTimeout}
			values := map[string]types.AttributeValue{":exp": num(exp.UnixMilli()), ":lt": str(exp.UTC().Format(time.RFC3339Nano))}
			if i < len(loads) && loads[i] > 0 {
				update += ", #load = :load"
				names["#load"] = attrLoad
				values[":load"] = &types.AttributeValueMemberN{Value: strconv.FormatFloat(loads[i], 'f', 1, 64)}
			}
			errs[i] = s.fencedUpdate(ctx, "renew", h, now, true, update, names, values)
		}()
	}
	wg.Wait()
	return errs
}

// Checkpoint implements checkpoints.Store: one conditional UpdateItem.
func (s *Store) Checkpoint(ctx context.Context, h checkpoints.Holding, seq string, now time.Time, ttl time.Duration) error {
	if seq == "" {
		return s.fail("checkpoint", h.Shard, errors.New("empty sequence number"), "")
	}
	exp := now.Add(ttl)
	return s.fencedUpdate(ctx, "checkpoint", h, now, true, "SET #cp = :cp, #exp = :exp, #lt = :lt",
		map[string]string{"#cp": attrCheckpoint, "#lt": attrLeaseTimeout},
		map[string]types.AttributeValue{":cp": str(seq), ":exp": num(exp.UnixMilli()), ":lt": str(exp.UTC().Format(time.RFC3339Nano))})
}

// Handoff implements checkpoints.Store: one conditional UpdateItem.
func (s *Store) Handoff(ctx context.Context, h checkpoints.Holding, successor string, now time.Time) error {
	return s.fencedUpdate(ctx, "handoff", h, now, true, "SET #succ = :succ",
		map[string]string{"#succ": attrSuccessor}, map[string]types.AttributeValue{":succ": str(successor)})
}

// Release implements checkpoints.Store: one UpdateItem conditional on
// owner and token (an expired lease nobody took since is released too).
func (s *Store) Release(ctx context.Context, h checkpoints.Holding, successor string, now time.Time, reserve time.Duration) error {
	names := map[string]string{"#succ": attrSuccessor, "#res": attrReserved}
	values := map[string]types.AttributeValue{}
	update := "REMOVE #owner, #succ, #res"
	if successor != "" {
		update = "SET #succ = :succ, #res = :res REMOVE #owner"
		values[":succ"], values[":res"] = str(successor), num(now.Add(reserve).UnixMilli())
	}
	return s.fencedUpdate(ctx, "release", h, now, false, update, names, values)
}

// Remove implements checkpoints.Store.
func (s *Store) Remove(ctx context.Context, shard string) error {
	if _, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.table), Key: key(shard)}); err != nil {
		return s.fail("remove", shard, err, "")
	}
	return nil
}

// SetCheckpoint overwrites shard's checkpoint without any lease check: for
// operators rewinding a stopped pipeline. An empty seq deletes it.
func (s *Store) SetCheckpoint(ctx context.Context, shard, seq string) error {
	in := &dynamodb.UpdateItemInput{TableName: aws.String(s.table), Key: key(shard),
		ExpressionAttributeNames: map[string]string{"#cp": attrCheckpoint}}
	if seq == "" {
		in.UpdateExpression = aws.String("REMOVE #cp")
	} else {
		in.UpdateExpression = aws.String("SET #cp = :cp")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":cp": str(seq)}
	}
	if _, err := s.client.UpdateItem(ctx, in); err != nil {
		return s.fail("set checkpoint", shard, err, "")
	}
	return nil
}

func decodeLease(item map[string]types.AttributeValue) checkpoints.Lease {
	l := checkpoints.Lease{
		Shard: stringAttr(item, attrKey), Owner: stringAttr(item, attrOwner),
		Expires: msTime(numAttr(item, attrExpires)), Token: numAttr(item, attrToken),
		Checkpoint: stringAttr(item, attrCheckpoint), Successor: stringAttr(item, attrSuccessor),
		ReservedUntil: msTime(numAttr(item, attrReserved)), Acquired: msTime(numAttr(item, attrAcquired)),
	}
	if n, ok := item[attrLoad].(*types.AttributeValueMemberN); ok {
		l.Load, _ = strconv.ParseFloat(n.Value, 64) // written by Renew from a float
	}
	return l
}

func stringAttr(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func numAttr(item map[string]types.AttributeValue, name string) int64 {
	if v, ok := item[name].(*types.AttributeValueMemberN); ok {
		n, _ := strconv.ParseInt(v.Value, 10, 64) // written by this store from an int64
		return n
	}
	return 0
}

func msTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// EnsureTable creates the lease table if it does not exist and waits until it
// is ACTIVE. Concurrent callers are fine: losing the create race is success.
func EnsureTable(ctx context.Context, client *dynamodb.Client, table string) error {
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(attrKey), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(attrKey), KeyType: types.KeyTypeHash}},
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
