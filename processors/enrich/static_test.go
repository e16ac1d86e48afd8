package enrich_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shardflow/shardflow/processors/decode"
	"github.com/shardflow/shardflow/processors/enrich"
)

var countryFields = []enrich.Field{
	{From: "name", As: "country_name", Type: decode.String},
	{From: "vat", Type: decode.Float64},
	{From: "eu", Type: decode.Bool},
}

func writeFile(tb testing.TB, name, content string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

func replaceFile(tb testing.TB, path, content string) {
	tb.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		tb.Fatal(err)
	}
}

var countryEvents = []string{
	`{"event_id":"e0","country":"DE"}`, `{"event_id":"e1","country":"FR"}`,
	`{"event_id":"e2","country":"US"}`, `{"event_id":"e3","country":"XX"}`, `{"event_id":"e4"}`,
}

func TestStaticTableFormats(t *testing.T) {
	mem := checked(t)
	in := batchOf(t, mem, countryEvents...)
	files := map[string]string{
		"c.csv": "country,name,vat,eu\nDE,Germany,0.19,true\nFR,\"France, Republic\",0.2,1\nUS,United States,,false\n",
		"array.json": `[{"country":"DE","name":"Germany","vat":0.19,"eu":true},
			{"country":"FR","name":"France, Republic","vat":"0.2","eu":true},
			{"country":"US","name":"United States","vat":null,"eu":false}]`,
		"keyed.json": `{"DE":{"name":"Germany","vat":0.19,"eu":true},"FR":{"name":"France, Republic","vat":0.2,"eu":"1"},
			"US":{"name":"United States","eu":false}}`,
	}
	for name, content := range files {
		tbl, err := enrich.NewStaticTable(mem, in.Record.Schema(), enrich.StaticOptions{
			File: writeFile(t, name, content), Key: "{country}", Fields: countryFields, OnMiss: enrich.MissDeadLetter,
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out, dead, err := tbl.Process(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		for c, want := range map[string][]string{
			"event_id":     {"e0", "e1", "e2"},
			"country_name": {"Germany", "France, Republic", "United States"},
			"vat":          {"0.19", "0.2", "(null)"},
			"eu":           {"true", "true", "false"},
		} {
			if got := col(t, out, c); !slices.Equal(got, want) {
				t.Errorf("%s: %s = %q, want %q", name, c, got, want)
			}
		}
		if len(dead) != 2 || dead[0].Reason != "enrich_miss: XX" || dead[1].Reason != "enrich_miss: {country}: country is null" {
			t.Errorf("%s: dead %+v", name, dead)
		}
		out.Record.Release()
		tbl.Close(context.Background())
	}
}

func TestStaticTableFileErrors(t *testing.T) {
	mem := checked(t)
	in := batchOf(t, mem, countryEvents...)
	cases := map[string]string{
		"dup.csv":     "country,name\nDE,a\nDE,b\n|line 3: duplicate key \"DE\" (also line 2)",
		"nokey.csv":   "name,vat\nGermany,0.19\n|line 2: no \"country\" for the key",
		"badvat.csv":  "country,vat\nDE,lots\n|line 2: enrich_bad_value: DE: vat: \"lots\" is not a finite float64",
		"ragged.csv":  "country,vat\nDE,1,2\n|wrong number of fields",
		"empty.csv":   "|empty file",
		"notobj.json": "[1]|element 0: json: cannot unmarshal number",
		"scalar.json": "42|want a JSON array or object",
		"trail.json":  "[] []|trailing data",
		"x.txt":       "country\n|cannot tell the format",
	}
	for name, c := range cases {
		content, want, _ := strings.Cut(c, "|")
		_, err := enrich.NewStaticTable(mem, in.Record.Schema(), enrich.StaticOptions{
			File: writeFile(t, name, content), Key: "{country}", Fields: countryFields[1:2],
		})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", name, err, want)
		}
	}
	if _, err := enrich.NewStaticTable(mem, in.Record.Schema(), enrich.StaticOptions{
		File: writeFile(t, "k.json", `{"DE":{}}`), Key: "{country}-{event_id}", Fields: countryFields,
	}); err == nil || !strings.Contains(err.Error(), "exactly one placeholder") {
		t.Errorf("keyed JSON with a two-placeholder key: %v", err)
	}
}

// TestStaticTableReloadIsAtomic swaps tables while batches are processed:
// every batch must see one whole table, never a mix of two.
func TestStaticTableReloadIsAtomic(t *testing.T) {
	mem := checked(t)
	var recs []string
	var csv strings.Builder
	csv.WriteString("country,name\n")
	for i := range 300 {
		recs = append(recs, fmt.Sprintf(`{"event_id":"e%d","country":"C%d"}`, i, i))
		fmt.Fprintf(&csv, "C%d,%%s\n", i)
	}
	in := batchOf(t, mem, recs...)
	version := func(v int) string { return strings.ReplaceAll(csv.String(), "%s", fmt.Sprint("v", v)) }
	path := writeFile(t, "t.csv", version(0))
	tbl, err := enrich.NewStaticTable(mem, in.Record.Schema(), enrich.StaticOptions{
		File: path, Key: "{country}", Fields: countryFields[:1],
	})
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Close(context.Background())
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	seen := make([]map[string]bool, 3)
	for g := range 3 {
		seen[g] = map[string]bool{}
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				out, _, err := tbl.Process(context.Background(), in)
				if err != nil {
					errs <- err
					return
				}
				names := col(t, out, "country_name")
				out.Record.Release()
				for _, n := range names {
					if n != names[0] {
						errs <- fmt.Errorf("one batch saw %s and %s", names[0], n)
						return
					}
				}
				seen[g][names[0]] = true
			}
		})
	}
	for v := 1; v <= 30; v++ {
		replaceFile(t, path, version(v))
		if err := tbl.Reload(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if tbl.Generation() != 31 {
		t.Errorf("generation %d, want 31", tbl.Generation())
	}
	if len(seen[0])+len(seen[1])+len(seen[2]) < 4 {
		t.Errorf("the readers saw too few versions to test anything: %v", seen)
	}
	// A failed reload keeps the table.
	replaceFile(t, path, "country,name\nC1,a\nC1,b\n")
	if err := tbl.Reload(); err == nil {
		t.Fatal("reload of a bad file succeeded")
	}
	out, _, _ := tbl.Process(context.Background(), in)
	defer out.Record.Release()
	if got := col(t, out, "country_name")[0]; got != "v30" || tbl.Generation() != 31 {
		t.Errorf("after a failed reload: %s, generation %d", got, tbl.Generation())
	}
}

func TestWatchSIGHUP(t *testing.T) {
	mem := checked(t)
	in := batchOf(t, mem, countryEvents...)
	path := writeFile(t, "c.csv", "country,name\nDE,old\n")
	tbl, err := enrich.NewStaticTable(mem, in.Record.Schema(), enrich.StaticOptions{File: path, Key: "{country}", Fields: countryFields[:1]})
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Close(context.Background())
	var logs syncBuffer
	stop := enrich.WatchSIGHUP(context.Background(), slog.New(slog.NewTextHandler(&logs, nil)), tbl)
	defer stop()
	replaceFile(t, path, "country,name\nDE,new\nFR,nouveau\n")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for tbl.Generation() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	out, _, _ := tbl.Process(context.Background(), in)
	defer out.Record.Release()
	if got := col(t, out, "country_name")[:2]; !slices.Equal(got, []string{"new", "nouveau"}) {
		t.Errorf("after SIGHUP: %v (generation %d)", got, tbl.Generation())
	}
	stop()
	if !strings.Contains(logs.String(), "reloaded static table on SIGHUP") || !strings.Contains(logs.String(), "keys=2") {
		t.Errorf("log: %s", logs.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
