package tail

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shardflow/shardflow/ingest/lines"
	"github.com/shardflow/shardflow/ingest/state"
)

// recorder registers every line as a record of its file and acknowledges
// it at once (ack false: keeps the tickets), remembering what it got.
type recorder struct {
	t        *testing.T
	ack      bool
	got      []string // "path: data"
	data     []string
	tickets  []state.Ticket
	started  []string
	finished []string
	long     []string
}

func (r *recorder) Started(f *File) { r.started = append(r.started, filepath.Base(f.Path)) }

func (r *recorder) Lines(f *File, ls []lines.Line) error {
	for _, l := range ls {
		if l.Truncated {
			r.long = append(r.long, fmt.Sprintf("%d bytes, ends at %d", len(l.Data), l.End))
		}
		r.got = append(r.got, filepath.Base(f.Path)+": "+string(l.Data))
		r.data = append(r.data, string(l.Data))
		tk := f.Progress.Register(state.Position{Offset: l.End, Lines: l.Number})
		if r.ack {
			tk.Ack()
		} else {
			r.tickets = append(r.tickets, tk)
		}
	}
	return nil
}

func (r *recorder) Finished(f *File) error {
	r.finished = append(r.finished, filepath.Base(f.Path))
	return nil
}

type env struct {
	t     *testing.T
	dir   string
	store *state.Store
	now   time.Time
}

func newEnv(t *testing.T) *env {
	dir := t.TempDir()
	s, err := state.Open(filepath.Join(dir, "state", "agent.json"))
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, dir: dir, store: s, now: time.Unix(1_800_000_000, 0)}
}

func (e *env) path(name string) string { return filepath.Join(e.dir, name) }

func (e *env) write(name, text string) {
	e.t.Helper()
	f, err := os.OpenFile(e.path(name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := f.WriteString(text); err != nil {
		e.t.Fatal(err)
	}
	f.Close()
}

func (e *env) tailer(o Options) *Tailer {
	e.t.Helper()
	o.Flow = "f"
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if o.DiscoverInterval == 0 {
		o.DiscoverInterval = time.Second
	}
	if o.CloseInactive == 0 {
		o.CloseInactive = 5 * time.Second
	}
	tl, err := New(o, e.store)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(tl.Close)
	return tl
}

// poll runs Poll until it reads nothing, advancing the clock a step each
// time.
func (e *env) poll(tl *Tailer, h Handler, step time.Duration) {
	e.t.Helper()
	for range 1000 {
		e.now = e.now.Add(step)
		read, err := tl.Poll(e.now, h)
		if err != nil {
			e.t.Fatal(err)
		}
		if !read {
			return
		}
	}
	e.t.Fatal("Poll kept reading")
}

func numbered(prefix string, from, to int) string {
	var sb strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&sb, "%s line %04d %s\n", prefix, i, strings.Repeat("x", 40))
	}
	return sb.String()
}

func lineList(text string) []string {
	return strings.Split(strings.TrimSuffix(text, "\n"), "\n")
}

func equal(t *testing.T, got []string, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got %d lines\n  %s\nwant %d\n  %s", len(got), strings.Join(got, "\n  "), len(want), strings.Join(want, "\n  "))
	}
}

func TestTailFollowsAFileAndWaitsForWholeLines(t *testing.T) {
	e := newEnv(t)
	e.write("app.log", "one\ntwo\r\nthr")
	tl := e.tailer(Options{Globs: []string{e.path("*.log")}})
	r := &recorder{t: t, ack: true}
	e.poll(tl, r, time.Millisecond)
	equal(t, r.data, []string{"one", "two"})
	e.write("app.log", "ee\n\nfour\n")
	e.poll(tl, r, time.Millisecond)
	equal(t, r.data, []string{"one", "two", "three", "", "four"})
	f := tl.Files()[0]
	if c := f.Progress.Committed(); c != (state.Position{Offset: 21, Lines: 5}) || f.Offset() != 21 {
		t.Fatalf("committed %+v, read to %d", c, f.Offset())
	}
	if len(r.finished) != 0 {
		t.Fatalf("a live file was finished: %v", r.finished)
	}
}

func TestTailRotationByRename(t *testing.T) {
	e := newEnv(t)
	first, late, second := numbered("a", 0, 50), numbered("a", 50, 60), numbered("b", 0, 40)
	e.write("app.log", first)
	tl := e.tailer(Options{Globs: []string{e.path("app.log")}, CloseInactive: 3 * time.Second})
	r := &recorder{t: t, ack: true}
	e.poll(tl, r, time.Millisecond)
	if err := os.Rename(e.path("app.log"), e.path("app.log.1")); err != nil {
		t.Fatal(err)
	}
	e.write("app.log.1", late) // the writer had not reopened yet
	e.write("app.log", second)
	e.now = e.now.Add(2 * time.Second) // the next discovery
	e.poll(tl, r, time.Millisecond)
	equal(t, r.data, lineList(first+late+second))
	if len(r.finished) != 0 {
		t.Fatalf("finished %v before close_inactive", r.finished)
	}
	e.now = e.now.Add(4 * time.Second)
	e.poll(tl, r, time.Millisecond)
	equal(t, r.finished, []string{"app.log"}) // the rotated generation, by its last known path
	if n := len(tl.Files()); n != 1 {
		t.Fatalf("%d files tracked after the rotated one was finished", n)
	}
	if len(e.store.Sources("f")) != 1 {
		t.Fatalf("checkpoint still holds the rotated file: %d sources", len(e.store.Sources("f")))
	}
}

// TestTailCopytruncate: the copy matches the globs, so the lines read from
// the original before the truncation are not sent again, and the lines
// only the copy has (written after the last read) are.
func TestTailCopytruncate(t *testing.T) {
	for _, order := range []string{"copy seen before the truncation", "truncation seen first"} {
		t.Run(order, func(t *testing.T) {
			e := newEnv(t)
			read, unread, after := numbered("a", 0, 40), numbered("a", 40, 45), numbered("c", 0, 20)
			e.write("app.log", read)
			tl := e.tailer(Options{Globs: []string{e.path("app.log*")}})
			r := &recorder{t: t}
			e.poll(tl, r, time.Millisecond)
			e.write("app.log", unread) // written, not read yet
			if err := os.WriteFile(e.path("app.log.1"), []byte(read+unread), 0o644); err != nil {
				t.Fatal(err)
			}
			if order == "copy seen before the truncation" {
				e.now = e.now.Add(2 * time.Second)
				tl.discover(e.now, r) // sees the copy while the original still has everything
			}
			if err := os.Truncate(e.path("app.log"), 0); err != nil {
				t.Fatal(err)
			}
			e.write("app.log", after)
			e.now = e.now.Add(2 * time.Second)
			e.poll(tl, r, time.Millisecond)
			e.now = e.now.Add(2 * time.Second)
			e.poll(tl, r, time.Millisecond)
			want := map[string]int{}
			for _, l := range lineList(read + unread + after) {
				want[l]++
			}
			got := map[string]int{}
			for _, l := range r.data {
				got[l]++
			}
			for l, n := range want {
				if got[l] != n {
					t.Errorf("%q arrived %d times", l, got[l])
				}
			}
			if len(r.data) != len(lineList(read+unread+after)) {
				t.Errorf("%d lines, want %d", len(r.data), len(lineList(read+unread+after)))
			}
			// The copy's checkpoint waits for the original's records.
			var copyP *state.Progress
			for _, f := range tl.Files() {
				if filepath.Base(f.Path) == "app.log.1" {
					copyP = f.Progress
				}
			}
			if copyP == nil {
				t.Fatal("the copy is not tracked")
			}
			for _, tk := range r.tickets[len(lineList(read)):] {
				tk.Ack() // the copy's and the new generation's records
			}
			if c := copyP.Committed(); c.Offset > int64(len(read)) {
				t.Fatalf("copy committed to %d while the original's records are unacknowledged", c.Offset)
			}
			for _, tk := range r.tickets[:len(lineList(read))] {
				tk.Ack()
			}
			if c := copyP.Committed(); c.Offset != int64(len(read+unread)) {
				t.Fatalf("copy committed to %d, want %d", c.Offset, len(read+unread))
			}
		})
	}
}

func TestTailCopytruncateWithoutTheCopy(t *testing.T) {
	e := newEnv(t)
	e.write("app.log", "old 1\nold 2\n")
	tl := e.tailer(Options{Globs: []string{e.path("app.log")}})
	r := &recorder{t: t, ack: true}
	e.poll(tl, r, time.Millisecond)
	os.Truncate(e.path("app.log"), 0)
	e.write("app.log", "new 1\n")
	e.poll(tl, r, time.Millisecond)
	equal(t, r.data, []string{"old 1", "old 2", "new 1"})
	equal(t, r.finished, []string{"app.log"})
}

func TestTailDeletedFileIsReadToItsEnd(t *testing.T) {
	e := newEnv(t)
	e.write("app.log", "a\n")
	tl := e.tailer(Options{Globs: []string{e.path("*.log")}, CloseInactive: time.Second})
	r := &recorder{t: t, ack: true}
	e.poll(tl, r, time.Millisecond)
	e.write("app.log", "b\nlast without newline")
	os.Remove(e.path("app.log"))
	e.now = e.now.Add(2 * time.Second)
	e.poll(tl, r, time.Millisecond)
	e.now = e.now.Add(2 * time.Second)
	e.poll(tl, r, time.Millisecond)
	equal(t, r.data, []string{"a", "b", "last without newline"})
	equal(t, r.finished, []string{"app.log"})
	if len(tl.Files()) != 0 || len(e.store.Sources("f")) != 0 {
		t.Fatalf("a deleted, finished file is still tracked")
	}
}

func TestTailResumesFromCheckpoint(t *testing.T) {
	e := newEnv(t)
	text := numbered("a", 0, 100)
	e.write("app.log", text)
	e.write("reused.log", numbered("r", 0, 30))
	tl := e.tailer(Options{Globs: []string{e.path("*.log")}})
	r := &recorder{t: t}
	e.poll(tl, r, time.Millisecond)
	for _, tk := range r.tickets[:40] { // app.log's first 40 lines were delivered
		tk.Ack()
	}
	if err := e.store.Flush(); err != nil {
		t.Fatal(err)
	}
	tl.Close()
	// The inode of reused.log gets new content (rotated and recreated
	// with the same inode number is simulated by rewriting it in place).
	os.WriteFile(e.path("reused.log"), []byte("fresh content\n"), 0o644)

	s2, err := state.Open(e.store.Path())
	if err != nil {
		t.Fatal(err)
	}
	e.store = s2
	tl2 := e.tailer(Options{Globs: []string{e.path("*.log")}})
	r2 := &recorder{t: t, ack: true}
	e.poll(tl2, r2, time.Millisecond)
	want := append(lineList(text)[40:], "fresh content")
	equal(t, r2.data, want)
	for _, f := range tl2.Files() {
		if filepath.Base(f.Path) == "app.log" && f.Progress.Committed().Lines != 100 {
			t.Errorf("line numbers did not continue: %+v", f.Progress.Committed())
		}
	}
}

func TestTailLongLines(t *testing.T) {
	e := newEnv(t)
	long := strings.Repeat("y", 5000)
	e.write("app.log", "short\n"+long+"\nafter\n"+long)
	tl := e.tailer(Options{Globs: []string{e.path("*.log")}, MaxLineBytes: 1000, ReadBytes: 1500, Once: true})
	r := &recorder{t: t, ack: true}
	e.poll(tl, r, time.Millisecond)
	equal(t, r.data, []string{"short", long[:1000], "after", long[:1000]})
	equal(t, r.long, []string{"1000 bytes, ends at 5007", "1000 bytes, ends at 10013"})
	if !tl.Done() {
		t.Fatal("once: not done at the end")
	}
}

func TestTailStartAtEndAndOnce(t *testing.T) {
	e := newEnv(t)
	e.write("old.log", "skipped 1\nskipped 2\npartial")
	tl := e.tailer(Options{Globs: []string{e.path("*.log")}, StartAtEnd: true})
	r := &recorder{t: t, ack: true}
	e.poll(tl, r, time.Millisecond)
	e.write("old.log", " line\nnew\n")
	e.write("new.log", "from the start\n") // found later: read from its start
	e.now = e.now.Add(2 * time.Second)
	e.poll(tl, r, time.Millisecond)
	equal(t, r.got, []string{"old.log: partial line", "old.log: new", "new.log: from the start"})

	e2 := newEnv(t)
	e2.write("a.log", "1\n2\nno newline")
	once := e2.tailer(Options{Globs: []string{e2.path("*.log")}, Once: true})
	r2 := &recorder{t: t, ack: true}
	e2.poll(once, r2, time.Millisecond)
	equal(t, r2.data, []string{"1", "2", "no newline"})
	if !once.Done() {
		t.Fatal("once mode not done")
	}
}

// TestTailFindsFileRotatedOutOfGlobWhileDown: app.log was renamed to
// app.log.1 (not matched by the glob) while the agent was down; its lines
// after the checkpoint are still read, then the new app.log.
func TestTailFindsFileRotatedOutOfGlobWhileDown(t *testing.T) {
	e := newEnv(t)
	first, rest, second := numbered("a", 0, 30), numbered("a", 30, 40), numbered("b", 0, 5)
	e.write("app.log", first)
	tl := e.tailer(Options{Globs: []string{e.path("app.log")}})
	r := &recorder{t: t, ack: true}
	e.poll(tl, r, time.Millisecond)
	if err := e.store.Flush(); err != nil {
		t.Fatal(err)
	}
	tl.Close()
	e.write("app.log", rest) // written before the rotation, not read
	os.Rename(e.path("app.log"), e.path("app.log.1"))
	e.write("app.log", second)
	os.WriteFile(e.path("other.txt"), []byte(first), 0o644) // same start, another inode: not ours

	s2, err := state.Open(e.store.Path())
	if err != nil {
		t.Fatal(err)
	}
	e.store = s2
	tl2 := e.tailer(Options{Globs: []string{e.path("app.log")}, CloseInactive: time.Second})
	r2 := &recorder{t: t, ack: true}
	e.poll(tl2, r2, time.Millisecond)
	e.now = e.now.Add(2 * time.Second)
	e.poll(tl2, r2, time.Millisecond)
	got := map[string]bool{}
	for _, l := range r2.data {
		got[l] = true
	}
	for _, l := range lineList(rest + second) {
		if !got[l] {
			t.Errorf("%q was not read", l)
		}
	}
	if len(r2.data) != len(lineList(rest+second)) {
		t.Errorf("read %d lines, want %d: %q", len(r2.data), len(lineList(rest+second)), r2.got)
	}
	equal(t, r2.finished, []string{"app.log.1"})
}

// TestTailTruncatedAndRegrownBeforeTheNextRead: the file was truncated and
// written again past the old read offset before the tailer looked: it is
// still seen as truncated (its start and the bytes before the read offset
// changed), and the new content is read from its start.
func TestTailTruncatedAndRegrownBeforeTheNextRead(t *testing.T) {
	for _, sameStart := range []bool{false, true} {
		t.Run(fmt.Sprintf("same first KiB=%v", sameStart), func(t *testing.T) {
			e := newEnv(t)
			header := ""
			if sameStart {
				header = strings.Repeat("# the same header line of every generation\n", 30) // > 1 KiB
			}
			old, regrown := header+numbered("old", 0, 100), header+numbered("new", 0, 150)
			e.write("app.log", old)
			tl := e.tailer(Options{Globs: []string{e.path("app.log")}})
			r := &recorder{t: t, ack: true}
			e.poll(tl, r, time.Millisecond)
			os.Truncate(e.path("app.log"), 0)
			e.write("app.log", regrown)
			e.poll(tl, r, time.Millisecond)
			equal(t, r.data, append(lineList(old), lineList(regrown)...))
		})
	}
}

func TestFileReadLine(t *testing.T) {
	e := newEnv(t)
	e.write("a.csv", "# c\r\nid,qty\r\n1,2\n")
	tl := e.tailer(Options{Globs: []string{e.path("*.csv")}})
	r := &recorder{t: t, ack: true}
	e.poll(tl, r, time.Millisecond)
	f := tl.Files()[0]
	for n, want := range map[int64]string{1: "# c", 2: "id,qty", 3: "1,2"} {
		if got, err := f.ReadLine(n); err != nil || string(got) != want {
			t.Errorf("line %d: %q %v, want %q", n, got, err, want)
		}
	}
	if _, err := f.ReadLine(4); err == nil {
		t.Error("line 4 of 3 found")
	}
}
