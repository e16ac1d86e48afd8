package state

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestProgressCommitsContiguousPrefix registers records and skips in random
// order of acknowledgement and checks, after every step, that the
// committed position is that of the last record of the longest fully
// acknowledged prefix — never past an unacknowledged record.
func TestProgressCommitsContiguousPrefix(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		p := NewProgress(Identity{Kind: "file"}, Position{Offset: 10, Lines: 1})
		type item struct {
			pos   Position
			t     Ticket
			acked bool
		}
		var items []*item
		off, lines := int64(10), int64(1)
		var unacked []*item
		for step := range 300 {
			switch r := rng.IntN(10); {
			case r < 4: // a record
				off += int64(1 + rng.IntN(100))
				lines++
				it := &item{pos: Position{off, lines}}
				it.t = p.Register(it.pos)
				items = append(items, it)
				unacked = append(unacked, it)
			case r < 5: // skipped lines
				off += int64(1 + rng.IntN(10))
				lines++
				p.Skip(Position{off, lines})
				items = append(items, &item{pos: Position{off, lines}, acked: true})
			default: // acknowledge one at random
				if len(unacked) == 0 {
					continue
				}
				i := rng.IntN(len(unacked))
				it := unacked[i]
				unacked = append(unacked[:i], unacked[i+1:]...)
				it.t.Ack()
				it.t.Ack() // twice is harmless
				it.acked = true
			}
			want := Position{10, 1}
			for _, it := range items {
				if !it.acked {
					break
				}
				want = it.pos
			}
			if got := p.Committed(); got != want {
				t.Fatalf("round %d step %d: committed %+v, want %+v", round, step, got, want)
			}
			if p.Pending() != len(unacked) {
				t.Fatalf("round %d step %d: pending %d, want %d", round, step, p.Pending(), len(unacked))
			}
		}
	}
}

func TestAckWhenCommitted(t *testing.T) {
	orig := NewProgress(Identity{Kind: "file", Path: "a.log"}, Position{})
	copyP := NewProgress(Identity{Kind: "file", Path: "a.log.1"}, Position{Offset: 100, Lines: 5})
	t1 := orig.Register(Position{50, 3})
	t2 := orig.Register(Position{100, 5})
	gate := copyP.Register(Position{100, 5}) // the bytes the copy shares
	orig.AckWhenCommitted(100, gate)
	t3 := copyP.Register(Position{150, 6}) // the copy's own tail
	t3.Ack()
	if c := copyP.Committed(); c.Offset != 100 {
		t.Fatalf("copy committed %+v before the original's records were delivered", c)
	}
	t2.Ack()
	if c := copyP.Committed(); c.Offset != 100 {
		t.Fatalf("copy committed %+v with the original's first record pending", c)
	}
	t1.Ack()
	if c := copyP.Committed(); c.Offset != 150 || !orig.Settled() {
		t.Fatalf("copy committed %+v, original settled %v", c, orig.Settled())
	}
	done := NewProgress(Identity{}, Position{Offset: 200})
	g := copyP.Register(Position{160, 7})
	done.AckWhenCommitted(200, g) // already there: acknowledged at once
	if c := copyP.Committed(); c.Offset != 160 {
		t.Fatalf("committed %+v", c)
	}
}

func TestStoreRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "state.json")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	a := s.Track("logs", Identity{Kind: "file", Path: "/var/log/a", Dev: 1, Inode: 2, FPLen: 4, FP: "ab"}, Position{})
	a.Register(Position{40, 2}).Ack()
	pending := a.Register(Position{80, 4})
	o := s.Track("feed", Identity{Kind: "object", Path: "in/x.gz", ETag: `"e"`, Size: 9}, Position{})
	o.Register(Position{90, 3}).Ack()
	o.MarkDone()
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	pending.Ack() // after the write: not in this checkpoint

	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	logs := s2.Take("logs")
	if len(logs) != 1 || logs[0].Offset != 40 || logs[0].Lines != 2 || logs[0].Inode != 2 || logs[0].FP != "ab" || logs[0].Done {
		t.Fatalf("logs %+v", logs)
	}
	// A flow that has not taken its entries keeps them across writes.
	if err := s2.Flush(); err != nil {
		t.Fatal(err)
	}
	s3, _ := Open(path)
	feed := s3.Take("feed")
	if len(feed) != 1 || !feed[0].Done || feed[0].ETag != `"e"` || feed[0].Offset != 90 {
		t.Fatalf("feed %+v", feed)
	}
	if got := s3.Take("logs"); len(got) != 0 {
		t.Fatalf("logs were taken by s2 and not tracked again, yet %+v", got)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d files, want only the checkpoint (no temporary left)", len(entries))
	}
}

func TestStoreRefusesCorruptFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	os.WriteFile(path, []byte(`{"version":1,"flows":{`), 0o644)
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), "not a checkpoint file") {
		t.Fatalf("corrupt checkpoint: %v", err)
	}
	os.WriteFile(path, []byte(`{"version":9,"flows":{}}`), 0o644)
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), "version 9") {
		t.Fatalf("future version: %v", err)
	}
}

// TestStoreRunWritesAfterAcks: the writer goroutine writes soon after an
// acknowledgement and runs BeforeWrite first; concurrent acks are safe.
func TestStoreRunWritesAfterAcks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var before sync.Mutex
	synced := 0
	s.BeforeWrite = func() error { before.Lock(); synced++; before.Unlock(); return nil }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	p := s.Track("f", Identity{Kind: "file", Path: "x"}, Position{})
	var tickets []Ticket
	for i := range 1000 {
		tickets = append(tickets, p.Register(Position{int64(i + 1), int64(i + 1)}))
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(tickets); i += 4 {
				tickets[i].Ack()
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s2, err := Open(path)
		if err == nil {
			if e := s2.Take("f"); len(e) == 1 && e[0].Offset == 1000 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("checkpoint never reached offset 1000 (%d writes, err %v)", s.Writes(), s.Err())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	before.Lock()
	defer before.Unlock()
	if synced == 0 || int64(synced) < s.Writes() {
		t.Errorf("BeforeWrite ran %d times for %d writes", synced, s.Writes())
	}
}

// TestWaitCovered returns only once the checkpoint written covers the
// tickets — also when an earlier record of the same source is
// acknowledged later.
func TestWaitCovered(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	p := s.Track("f", Identity{Kind: "file", Path: "x"}, Position{})
	check := func(want int64) {
		t.Helper()
		s2, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if e := s2.Take("f"); len(e) != 1 || e[0].Offset != want {
			t.Fatalf("checkpoint says %+v, want offset %d", e, want)
		}
	}
	for i := range 20 {
		tk := p.Register(Position{int64(i + 1), int64(i + 1)})
		tk.Ack()
		if err := s.WaitCovered(context.Background(), []Ticket{tk}); err != nil {
			t.Fatal(err)
		}
		check(int64(i + 1))
	}
	first := p.Register(Position{30, 21})
	second := p.Register(Position{40, 22})
	second.Ack()
	waited := make(chan error, 1)
	go func() { waited <- s.WaitCovered(context.Background(), []Ticket{second}) }()
	select {
	case err := <-waited:
		t.Fatalf("WaitCovered returned (%v) while an earlier record is unacknowledged", err)
	case <-time.After(100 * time.Millisecond):
	}
	first.Ack()
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	check(40)
	// A forgotten source is not waited for.
	q := s.Track("f", Identity{Kind: "file", Path: "y"}, Position{})
	tk := q.Register(Position{5, 1})
	s.Forget("f", q)
	if err := s.WaitCovered(context.Background(), []Ticket{tk}); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	short, stop := context.WithTimeout(context.Background(), time.Millisecond)
	defer stop()
	late := p.Register(Position{50, 23})
	late.Ack()
	if err := s.WaitCovered(short, []Ticket{late}); err == nil {
		t.Fatal("WaitCovered returned without a writer")
	}
}
