package lakehouse_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shardflow/shardflow/internal/testenv"
)

// readmeSQL returns the README's SQL block that starts with "-- checked: tag".
func readmeSQL(t *testing.T, tag string) string {
	t.Helper()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	marker := "```sql\n-- checked: " + tag + "\n"
	i := strings.Index(string(raw), marker)
	if i < 0 {
		t.Fatalf("README has no SQL block marked %q", tag)
	}
	rest := string(raw)[i+len(marker):]
	return rest[:strings.Index(rest, "```")]
}

var ddlColumn = regexp.MustCompile(`(?m)^\s+(\w+)\s+([a-z]+(?:\s+precision)?)`)

// ddlColumns lists "name type" of the column definitions inside the first
// parenthesis after start.
func ddlColumns(ddl, start string) [][2]string {
	i := strings.Index(ddl, start)
	body := ddl[i+len(start):]
	body = body[:strings.Index(body, "\n)")]
	var cols [][2]string
	for _, m := range ddlColumn.FindAllStringSubmatch(body, -1) {
		cols = append(cols, [2]string{m[1], m[2]})
	}
	return cols
}

// orderedColumns is DuckDB's DESCRIBE of a query, in column order.
func orderedColumns(t *testing.T, db *sql.DB, query string) [][2]string {
	t.Helper()
	rows, err := db.Query("SELECT column_name, column_type FROM (DESCRIBE " + query + ")")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][2]string
	for rows.Next() {
		var c [2]string
		if err := rows.Scan(&c[0], &c[1]); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// checkReadmeStatements runs the README's checked statements against what
// the exactly-once output wrote under dir (mirrored), with want events:
// the Athena table's columns and partitions are what DuckDB reads, and the
// Redshift table, created on PostgreSQL, loads every row once from the
// files the segment manifests list.
func checkReadmeStatements(t *testing.T, env *testenv.Env, db *sql.DB, dir string, events int64) {
	t.Helper()
	athena := readmeSQL(t, "athena")
	athenaToDuck := map[string]string{"string": "VARCHAR", "timestamp": "TIMESTAMP WITH TIME ZONE", "double": "DOUBLE", "bigint": "BIGINT", "boolean": "BOOLEAN"}
	got := orderedColumns(t, db, "SELECT * FROM read_parquet("+sqlString(filepath.Join(dir, "**", "*.parquet"))+", hive_partitioning = false)")
	cols := ddlColumns(athena, "CREATE EXTERNAL TABLE clicks (")
	if len(cols) != len(got) {
		t.Fatalf("README Athena table has %d columns %v, the files %d %v", len(cols), cols, len(got), got)
	}
	for i, c := range cols {
		if got[i][0] != c[0] || got[i][1] != athenaToDuck[c[1]] {
			t.Errorf("README Athena column %d is %s %s; the files have %s %s", i, c[0], c[1], got[i][0], got[i][1])
		}
	}
	parts := ddlColumns(athena, "PARTITIONED BY (")
	if len(parts) != 0 {
		t.Fatalf("partition columns should be on one line: %v", parts)
	}
	if !strings.Contains(athena, "PARTITIONED BY (dt string, hr string)") || !strings.Contains(athena, "'storage.location.template' = 's3://lake/clicks/dt=${dt}/hr=${hr}/'") ||
		!strings.Contains(athena, "'projection.dt.format'      = 'yyyy-MM-dd'") || !strings.Contains(athena, "'projection.hr.digits'      = '2'") {
		t.Fatalf("README Athena partitions changed; check them against the key layout:\n%s", athena)
	}
	layout := regexp.MustCompile(`^dt=\d{4}-\d{2}-\d{2}/hr=\d{2}/[^/]+\.parquet$`)
	matches, _ := filepath.Glob(filepath.Join(dir, "*", "*", "*.parquet"))
	for _, m := range matches {
		rel, _ := filepath.Rel(dir, m)
		if !layout.MatchString(filepath.ToSlash(rel)) {
			t.Errorf("%s does not match the projection's dt=yyyy-MM-dd/hr=HH/ layout", rel)
		}
	}

	// Redshift's table on PostgreSQL, loaded manifest by manifest.
	ctx := context.Background()
	pg, err := pgx.Connect(ctx, env.PostgresDB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close(ctx)
	if _, err := pg.Exec(ctx, readmeSQL(t, "redshift")); err != nil {
		t.Fatalf("README Redshift table on PostgreSQL: %v", err)
	}
	manifests, _ := filepath.Glob(filepath.Join(dir, "_shardflow", "manifests", "*", "*.json"))
	for _, m := range manifests {
		body, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		var man struct{ Entries []struct{ URL string } }
		if err := json.Unmarshal(body, &man); err != nil {
			t.Fatal(err)
		}
		var files []string
		for _, e := range man.Entries {
			files = append(files, sqlString(filepath.Join(dir, filepath.FromSlash(e.URL[strings.Index(e.URL, "/dt=")+1:]))))
		}
		rows, err := db.Query("SELECT event_id, user_id, page, country, ts, price, user_agent FROM read_parquet([" + strings.Join(files, ", ") + "])")
		if err != nil {
			t.Fatal(err)
		}
		var batch [][]any
		for rows.Next() {
			var id, user, page, country string
			var ua sql.NullString
			var ts time.Time
			var price float64
			if err := rows.Scan(&id, &user, &page, &country, &ts, &price, &ua); err != nil {
				t.Fatal(err)
			}
			var uav any
			if ua.Valid {
				uav = ua.String
			}
			batch = append(batch, []any{id, user, page, country, ts, price, uav})
		}
		rows.Close()
		if _, err := pg.CopyFrom(ctx, pgx.Identifier{"clicks"}, []string{"event_id", "user_id", "page", "country", "ts", "price", "user_agent"}, pgx.CopyFromRows(batch)); err != nil {
			t.Fatalf("loading %s into the README's Redshift table: %v", filepath.Base(m), err)
		}
	}
	var n, distinct int64
	if err := pg.QueryRow(ctx, "SELECT count(*), count(DISTINCT event_id) FROM clicks").Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	t.Logf("README statements: Athena columns match DuckDB's view of %d files; the Redshift table (on PostgreSQL) loaded %d rows (%d distinct) from %d manifests", len(matches), n, distinct, len(manifests))
	if n != events || distinct != events {
		t.Fatalf("the Redshift table loaded %d rows (%d distinct) from the manifests, want %d", n, distinct, events)
	}
}
