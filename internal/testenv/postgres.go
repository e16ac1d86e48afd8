package testenv

import (
	"context"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"
)

// PostgresDB creates a throwaway database (sf_test_<random>) on the local
// PostgreSQL and returns its URL; the database is dropped at cleanup (WITH
// (FORCE), so connections the test left open do not block it).
func (e *Env) PostgresDB(tb testing.TB) string {
	tb.Helper()
	mustAnswer(tb, "PostgreSQL", "SHARDFLOW_POSTGRES_URL", e.PostgresURL)
	u, err := url.Parse(e.PostgresURL)
	if err != nil {
		tb.Fatalf("testenv: SHARDFLOW_POSTGRES_URL=%q: %v", e.PostgresURL, err)
	}
	name := "sf_test_" + randomHex(tb, 8)

	ctx, cancel := cleanupContext()
	defer cancel()
	if err := e.adminExec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("testenv: PostgreSQL at %s: creating database %s: %v; %s", u.Redacted(), name, err, Hint)
	}
	tb.Cleanup(func() {
		ctx, cancel := cleanupContext()
		defer cancel()
		if err := e.adminExec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			tb.Errorf("testenv: dropping PostgreSQL database %s: %v", name, err)
		}
	})

	db := *u
	db.Path = "/" + name
	return db.String()
}

// adminExec runs one statement on the database of SHARDFLOW_POSTGRES_URL.
func (e *Env) adminExec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, e.PostgresURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}
