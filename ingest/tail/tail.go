package tail

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/shardflow/shardflow/ingest/lines"
	"github.com/shardflow/shardflow/ingest/state"
)

// Options configure a Tailer.
type Options struct {
	// Flow names the flow (its checkpoint entries, log lines).
	Flow string
	// Globs are filepath.Match patterns of the files to read.
	Globs []string
	// StartAtEnd starts the files found at the first discovery that have
	// no checkpoint at their end (after their last complete line) rather
	// than their beginning.
	StartAtEnd bool
	// FingerprintBytes is how much of a file's start identifies it
	// (default 1024).
	FingerprintBytes int
	// MaxLineBytes cuts longer lines (default 1 MiB).
	MaxLineBytes int
	// ReadBytes is the most read from one file per Poll (default 1 MiB,
	// at least MaxLineBytes+1).
	ReadBytes int
	// DiscoverInterval is how often the globs are evaluated (default 1s).
	DiscoverInterval time.Duration
	// CloseInactive is how long a file whose path no longer names it is
	// kept open without growing before it is finished (default 5s).
	CloseInactive time.Duration
	// Once finishes every file at its end: for backfills, Done reports when
	// everything found at the first discovery was read.
	Once   bool
	Logger *slog.Logger
}

// Handler receives what a Tailer reads.
type Handler interface {
	// Started is called when a file generation starts being read.
	Started(f *File)
	// Lines hands over lines of f in order; their Data is valid during
	// the call only.
	Lines(f *File, ls []lines.Line) error
	// Finished says no more lines of f will come (the file was rotated
	// away or deleted and stayed idle, truncated — its next generation is a
	// new File —, or Once reached its end).
	Finished(f *File) error
}

// File is one generation of one file: what is read from one inode between
// truncations.
type File struct {
	// Path is where the file was last seen.
	Path string
	// Progress is its checkpoint tracking.
	Progress *state.Progress
	// Aux is the Handler's own state for the file.
	Aux any

	dev, ino  uint64
	fd        *os.File
	fpLen     int
	fp        string
	readOff   int64 // next byte to read
	lineNo    int64 // lines before readOff
	size      int64 // at the last read
	grewAt    time.Time
	gone      bool // the path no longer names this inode
	finished  bool
	long      *longLine
	generated bool // a later generation of its inode exists (truncated)
	// The last bytes before readOff, as read: if they change, the file
	// was truncated and rewritten.
	tail  [tailBytes]byte
	tailN int
}

const tailBytes = 64

// keepTail remembers the last tailBytes bytes before the read offset after
// consuming read (the bytes just read up to it).
func (f *File) keepTail(read []byte) {
	if len(read) >= tailBytes {
		f.tailN = copy(f.tail[:], read[len(read)-tailBytes:])
		return
	}
	keep := min(f.tailN, tailBytes-len(read))
	copy(f.tail[:], f.tail[f.tailN-keep:f.tailN])
	f.tailN = keep + copy(f.tail[keep:], read)
}

// unchanged reports whether f still starts with the bytes of its
// fingerprint and still holds, just before the read offset, what was read
// there.
func (t *Tailer) unchanged(f *File) bool {
	if f.fpLen > 0 {
		if fp, err := t.hash(f.fd, f.fpLen); err != nil || fp != f.fp {
			return false
		}
	}
	if f.tailN > 0 {
		buf := t.check[:f.tailN]
		if n, err := f.fd.ReadAt(buf, f.readOff-int64(f.tailN)); n != f.tailN || (err != nil && !errors.Is(err, io.EOF)) {
			return false
		}
		return bytes.Equal(buf, f.tail[:f.tailN])
	}
	return true
}

// hash is fingerprint with the Tailer's buffer.
func (t *Tailer) hash(fd *os.File, n int) (string, error) {
	if cap(t.fpBuf) < n {
		t.fpBuf = make([]byte, n)
	}
	buf := t.fpBuf[:n]
	if k, err := fd.ReadAt(buf, 0); k != n || (err != nil && !errors.Is(err, io.EOF)) {
		return "", fmt.Errorf("short read")
	}
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:16]), nil
}

// longLine is a line being skipped past MaxLineBytes.
type longLine struct {
	start []byte
	off   int64
}

// Offset returns the next byte the tailer will read.
func (f *File) Offset() int64 { return f.readOff }

// Size returns the file's size at the last read.
func (f *File) Size() int64 { return f.size }

// Finished reports whether the file is finished.
func (f *File) Finished() bool { return f.finished }

type inode struct{ dev, ino uint64 }

// retired is an earlier generation of a truncated file, remembered so that
// its copy (copytruncate) can continue where it was read.
type retired struct {
	fp      string
	readOff int64
	lineNo  int64
	prog    *state.Progress
	at      time.Time
}

// Tailer reads one flow's files.
type Tailer struct {
	o          Options
	store      *state.Store
	log        *slog.Logger
	loaded     []state.Entry // checkpoints from the last run, until the first discovery
	files      []*File
	byInode    map[inode]*File // the current generation of each inode
	retired    []retired
	copies     map[inode]*pendingCopy // copies of live files, waiting for the truncation
	discovered time.Time
	first      bool
	buf        []byte
	batch      []lines.Line
	fpBuf      []byte
	check      [tailBytes]byte
}

// New makes a Tailer; it takes the flow's checkpoints from store.
func New(o Options, store *state.Store) (*Tailer, error) {
	if len(o.Globs) == 0 {
		return nil, errors.New("tail: no file globs")
	}
	for _, g := range o.Globs {
		if _, err := filepath.Match(g, ""); err != nil {
			return nil, fmt.Errorf("tail: glob %q: %w", g, err)
		}
	}
	if o.FingerprintBytes <= 0 {
		o.FingerprintBytes = 1024
	}
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = 1 << 20
	}
	if o.ReadBytes <= o.MaxLineBytes {
		o.ReadBytes = max(o.ReadBytes, 1<<20, o.MaxLineBytes+1)
	}
	if o.DiscoverInterval <= 0 {
		o.DiscoverInterval = time.Second
	}
	if o.CloseInactive <= 0 {
		o.CloseInactive = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Tailer{o: o, store: store, log: o.Logger.With("flow", o.Flow), loaded: store.Take(o.Flow),
		byInode: map[inode]*File{}, copies: map[inode]*pendingCopy{}, first: true}, nil
}

// Files returns the generations being read (not yet finished and dropped).
func (t *Tailer) Files() []*File { return t.files }

// Done reports, in Once mode, that every file found was read to its end
// and finished.
func (t *Tailer) Done() bool {
	if t.first {
		return false
	}
	for _, f := range t.files {
		if !f.finished {
			return false
		}
	}
	return true
}

// Poll discovers files when it is time, reads what is new in each (at most
// ReadBytes per file) and hands it to h. It reports whether it read
// anything, so that the caller polls again at once rather than waiting.
func (t *Tailer) Poll(now time.Time, h Handler) (bool, error) {
	if t.first || (!t.o.Once && now.Sub(t.discovered) >= t.o.DiscoverInterval) {
		if err := t.discover(now, h); err != nil {
			return false, err
		}
	}
	read := false
	for _, f := range t.files {
		if f.finished {
			continue
		}
		n, err := t.read(f, now, h)
		if err != nil {
			return read, err
		}
		read = read || n
	}
	t.sweep(now)
	return read, nil
}

// Close closes every open file.
func (t *Tailer) Close() {
	for _, c := range t.copies {
		c.f.fd.Close()
	}
	for _, f := range t.files {
		if f.fd != nil {
			f.fd.Close()
			f.fd = nil
		}
	}
}

func (t *Tailer) discover(now time.Time, h Handler) error {
	t.discovered = now
	var paths []string
	seenPath := map[string]bool{}
	for _, g := range t.o.Globs {
		m, _ := filepath.Glob(g) // the pattern was checked in New
		for _, p := range m {
			if !seenPath[p] {
				seenPath[p] = true
				paths = append(paths, p)
			}
		}
	}
	sort.Strings(paths)
	type found struct {
		path string
		fi   os.FileInfo
		id   inode
	}
	var files []found
	for _, path := range paths {
		fi, err := os.Stat(path)
		if err != nil || !fi.Mode().IsRegular() {
			continue // gone since the glob, or not a file
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("tail: %s: no inode information on this platform", path)
		}
		files = append(files, found{path, fi, inode{uint64(st.Dev), st.Ino}})
	}
	// Files that have a checkpoint of their own inode first, so that a copy
	// found before its original cannot take the original's checkpoint.
	own := map[inode]bool{}
	for _, e := range t.loaded {
		own[inode{e.Dev, e.Inode}] = true
	}
	sort.SliceStable(files, func(i, j int) bool { return own[files[i].id] && !own[files[j].id] })
	seen := map[inode]bool{}
	for _, fd := range files {
		path, fi, id := fd.path, fd.fi, fd.id
		if seen[id] {
			continue // a hard link of a file matched already
		}
		seen[id] = true
		if c := t.copies[id]; c != nil {
			c.f.Path = path
			t.copyReady(c, h)
			continue
		}
		if f := t.byInode[id]; f != nil {
			if f.Path != path {
				t.log.Info("file renamed", "from", f.Path, "to", path)
				f.Path = path
				t.setIdentity(f)
			}
			f.gone = false
			continue
		}
		if err := t.start(path, id, fi.Size(), now, h); err != nil {
			t.log.Warn("cannot read file; will retry", "path", path, "err", err)
		}
	}
	for id, c := range t.copies {
		if !seen[id] {
			c.f.fd.Close() // the copy went away before it was needed
			delete(t.copies, id)
		}
	}
	for id, f := range t.byInode {
		if !seen[id] && !f.gone {
			f.gone = true
			t.log.Info("file rotated away or deleted; reading it to its end", "path", f.Path)
		}
	}
	if t.first && len(t.loaded) > 0 {
		t.findRotatedAway(now, h, seen)
	}
	t.first = false
	t.loaded = nil // what the first discovery did not claim is gone
	return nil
}

// findRotatedAway looks, at start-up, for files with a checkpoint that the
// globs no longer match: a file renamed out of them (app.log → app.log.1
// with the glob app.log) while the agent was down still has lines after its
// checkpoint. They are looked for by inode in the globs' directories, read
// to their end and finished.
func (t *Tailer) findRotatedAway(now time.Time, h Handler, seen map[inode]bool) {
	want := map[inode]bool{}
	for _, e := range t.loaded {
		if e.Kind == "file" {
			want[inode{e.Dev, e.Inode}] = true
		}
	}
	dirs := map[string]bool{}
	for _, g := range t.o.Globs {
		if d := filepath.Dir(g); !strings.ContainsAny(d, `*?[\`) {
			dirs[d] = true
		}
	}
	for d := range dirs {
		entries, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, de := range entries {
			path := filepath.Join(d, de.Name())
			fi, err := os.Stat(path)
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			st := fi.Sys().(*syscall.Stat_t)
			id := inode{uint64(st.Dev), st.Ino}
			if !want[id] || seen[id] || t.byInode[id] != nil {
				continue
			}
			before := len(t.loaded)
			if err := t.start(path, id, fi.Size(), now, h); err != nil {
				continue
			}
			if f := t.byInode[id]; f != nil && len(t.loaded) < before {
				f.gone = true // resumed from its checkpoint: read it to its end
				t.log.Info("file rotated out of the globs while the agent was down; reading it to its end", "path", path)
			} else if f != nil {
				// Not the checkpointed content after all: not ours to read.
				t.untrack(f)
			}
		}
	}
}

// untrack drops a file that was started by mistake, before any line.
func (t *Tailer) untrack(f *File) {
	f.fd.Close()
	f.fd = nil
	delete(t.byInode, inode{f.dev, f.ino})
	for i, g := range t.files {
		if g == f {
			t.files = append(t.files[:i], t.files[i+1:]...)
			break
		}
	}
	t.store.Forget(t.o.Flow, f.Progress)
}

// start begins reading a file not tracked yet.
func (t *Tailer) start(path string, id inode, size int64, now time.Time, h Handler) error {
	fd, err := os.Open(path)
	if err != nil {
		return err
	}
	// The inode may have changed between the stat and the open.
	if fi, err := fd.Stat(); err != nil || fi.Sys().(*syscall.Stat_t).Ino != id.ino {
		fd.Close()
		return fmt.Errorf("changed while opening it")
	}
	f := &File{Path: path, dev: id.dev, ino: id.ino, fd: fd, grewAt: now, size: size}
	if f.fp, f.fpLen, err = fingerprint(fd, min(size, int64(t.o.FingerprintBytes))); err != nil {
		fd.Close()
		return err
	}
	start, how, gate, orig := t.startPosition(f, size)
	if orig != nil {
		// A copy of a file still being read: which of its bytes were
		// sent is known only once the original is truncated (or read past
		// the copy's end).
		c := &pendingCopy{f: f, orig: orig}
		t.copies[id] = c
		t.log.Info("file is a copy of one being read; waiting for the original's truncation", "path", path, "original", orig.Path)
		t.copyReady(c, h)
		return nil
	}
	t.begin(f, start, how, gate, h)
	return nil
}

// begin tracks f from start and hands it to h.
func (t *Tailer) begin(f *File, start state.Position, how string, gate *state.Progress, h Handler) {
	f.readOff, f.lineNo = start.Offset, start.Lines
	committed := start
	if gate != nil {
		// A copy shares [0, start) with an earlier generation whose records
		// may still be in flight, and that generation's own checkpoint is
		// useless after a restart (its inode holds new content). So the
		// copy's checkpoint starts where the original's is and passes start
		// only once the original's records up to there were delivered.
		if c := gate.Committed(); c.Offset < start.Offset {
			committed = c
		}
	}
	f.Progress = t.store.Track(t.o.Flow, t.identity(f), committed)
	if gate != nil {
		gate.AckWhenCommitted(start.Offset, f.Progress.Register(start))
	}
	f.Progress.SetSize(f.size)
	if start.Offset > 0 {
		n := min(start.Offset, tailBytes)
		if k, _ := f.fd.ReadAt(f.tail[:n], start.Offset-n); int64(k) == n {
			f.tailN = int(n)
		}
	}
	t.log.Info("reading file", "path", f.Path, "inode", f.ino, "offset", start.Offset, "from", how)
	t.files = append(t.files, f)
	t.byInode[inode{f.dev, f.ino}] = f
	h.Started(f)
}

// pendingCopy is a file whose content starts like a file being read.
type pendingCopy struct {
	f    *File
	orig *File
}

// copyReady starts a pending copy once it is known where: after the
// original was truncated, where the original's old content was read to;
// when the original was read past the copy's end (a plain copy), at the
// copy's end.
func (t *Tailer) copyReady(c *pendingCopy, h Handler) {
	o, f := c.orig, c.f
	id := inode{f.dev, f.ino}
	switch {
	case o.generated: // truncated: its last read position is final
		t.begin(f, state.Position{Offset: min(o.readOff, f.size), Lines: o.lineNo}, "copy of a truncated file", o.Progress, h)
	case o.readOff >= f.size || o.finished:
		off := min(o.readOff, f.size)
		n, err := countLines(f.fd, off)
		if err != nil {
			t.log.Warn("cannot read copied file; will retry", "path", f.Path, "err", err)
			return
		}
		t.begin(f, state.Position{Offset: off, Lines: n}, "copy of a file read past it", o.Progress, h)
	default:
		return
	}
	delete(t.copies, id)
}

// countLines counts the line breaks in the first n bytes of fd.
func countLines(fd *os.File, n int64) (int64, error) {
	buf := make([]byte, 64<<10)
	var lines int64
	for off := int64(0); off < n; {
		k, err := fd.ReadAt(buf[:min(int64(len(buf)), n-off)], off)
		lines += int64(bytes.Count(buf[:k], []byte{'\n'}))
		off += int64(k)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		if k == 0 {
			break
		}
	}
	return lines, nil
}

// startPosition decides where a newly found file starts, and which
// generation (if any) its checkpoint must wait for.
func (t *Tailer) startPosition(f *File, size int64) (pos state.Position, how string, gate *state.Progress, orig *File) {
	full := f.fpLen == t.o.FingerprintBytes
	// A checkpoint of this inode whose fingerprint still matches.
	for i, e := range t.loaded {
		if e.Kind == "file" && e.Dev == f.dev && e.Inode == f.ino && e.Offset <= size && t.sameStart(f, e) {
			t.loaded = append(t.loaded[:i], t.loaded[i+1:]...)
			return e.Position, "checkpoint", nil, nil
		}
	}
	// A checkpoint of another inode with the same (full) fingerprint:
	// the file was copied or moved across file systems while we were
	// down.
	if full {
		for i, e := range t.loaded {
			if e.Kind == "file" && e.FPLen == f.fpLen && e.FP == f.fp && e.Offset <= size {
				t.loaded = append(t.loaded[:i], t.loaded[i+1:]...)
				return e.Position, "checkpoint of a copy", nil, nil
			}
		}
		// A copy of a generation we read in this run (copytruncate).
		var best *retired
		for i := range t.retired {
			r := &t.retired[i]
			if r.fp == f.fp && r.readOff <= size && (best == nil || r.readOff > best.readOff) {
				best = r
			}
		}
		if best != nil {
			return state.Position{Offset: best.readOff, Lines: best.lineNo}, "copy of a truncated file", best.prog, nil
		}
		for _, o := range t.files {
			if o.fpLen == f.fpLen && o.fp == f.fp && !o.generated {
				return state.Position{}, "", nil, o
			}
		}
	}
	if t.first && t.o.StartAtEnd {
		off := lastLineEnd(f.fd, size)
		n, _ := countLines(f.fd, off)
		return state.Position{Offset: off, Lines: n}, "end (initial_position end_of_file)", nil, nil
	}
	return state.Position{}, "beginning", nil, nil
}

// sameStart reports whether f's first e.FPLen bytes have e's fingerprint.
func (t *Tailer) sameStart(f *File, e state.Entry) bool {
	if e.FPLen == f.fpLen {
		return e.FP == f.fp
	}
	if int64(e.FPLen) > f.size {
		return false
	}
	fp, _, err := fingerprint(f.fd, int64(e.FPLen))
	return err == nil && fp == e.FP
}

func (t *Tailer) identity(f *File) state.Identity {
	return state.Identity{Kind: "file", Path: f.Path, Dev: f.dev, Inode: f.ino, FPLen: f.fpLen, FP: f.fp}
}

func (t *Tailer) setIdentity(f *File) { f.Progress.SetIdentity(t.identity(f)) }

// read reads what is new in f.
func (t *Tailer) read(f *File, now time.Time, h Handler) (bool, error) {
	fi, err := f.fd.Stat()
	if err != nil {
		return false, fmt.Errorf("tail: stat %s: %w", f.Path, err)
	}
	size := fi.Size()
	// Truncated: shorter than what was read, or — when it has regrown past
	// that before we looked — no longer starting with what it started with,
	// or no longer holding what was read last just before the read offset.
	if size < f.readOff || (size != f.size && !t.unchanged(f)) {
		return true, t.truncated(f, size, now, h)
	}
	if size > f.size {
		f.grewAt = now
	}
	f.size = size
	f.Progress.SetSize(size)
	if f.fpLen < t.o.FingerprintBytes && size > int64(f.fpLen) {
		// The file grew past its fingerprint: identify it by more bytes.
		if fp, n, err := fingerprint(f.fd, min(size, int64(t.o.FingerprintBytes))); err == nil {
			f.fp, f.fpLen = fp, n
			t.setIdentity(f)
		}
	}
	ending := t.o.Once || (f.gone && now.Sub(f.grewAt) >= t.o.CloseInactive)
	if size == f.readOff {
		if ending {
			return false, t.finish(f, h)
		}
		return false, nil
	}
	n := min(size-f.readOff, int64(t.o.ReadBytes))
	if int64(cap(t.buf)) < n {
		t.buf = make([]byte, n)
	}
	buf := t.buf[:n]
	if _, err := f.fd.ReadAt(buf, f.readOff); err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("tail: read %s at %d: %w", f.Path, f.readOff, err)
	}
	base := f.readOff
	batch := t.batch[:0]
	i := 0
	for i < len(buf) {
		j := bytes.IndexByte(buf[i:], '\n')
		if j < 0 {
			break
		}
		end := i + j
		if f.long != nil {
			// The end of a line that was cut.
			f.lineNo++
			batch = append(batch, lines.Line{Data: f.long.start, Offset: f.long.off, End: base + int64(end) + 1, Number: f.lineNo, Truncated: true})
			f.long = nil
			i = end + 1
			continue
		}
		data := buf[i:end]
		if len(data) > 0 && data[len(data)-1] == '\r' {
			data = data[:len(data)-1]
		}
		f.lineNo++
		line := lines.Line{Data: data, Offset: base + int64(i), End: base + int64(end) + 1, Number: f.lineNo}
		if len(data) > t.o.MaxLineBytes {
			line.Data, line.Truncated = data[:t.o.MaxLineBytes], true
		}
		batch = append(batch, line)
		i = end + 1
	}
	rest := buf[i:]
	switch {
	case f.long != nil:
		i = len(buf) // still inside the cut line
	case len(rest) > t.o.MaxLineBytes:
		f.long = &longLine{start: bytes.Clone(rest[:t.o.MaxLineBytes]), off: base + int64(i)}
		i = len(buf)
	}
	f.readOff = base + int64(i)
	f.keepTail(buf[:i])
	t.batch = batch[:0]
	if len(batch) > 0 {
		if err := h.Lines(f, batch); err != nil {
			return true, err
		}
	}
	if base+n == size && ending && f.readOff < size {
		// Only a last line without a line break is left, and nothing will
		// be written after it.
		return true, t.finish(f, h)
	}
	return len(batch) > 0 || f.long != nil, nil
}

// finish hands over a last line without a line break, finishes f and
// closes it.
func (t *Tailer) finish(f *File, h Handler) error {
	if f.long != nil {
		f.lineNo++
		last := []lines.Line{{Data: f.long.start, Offset: f.long.off, End: f.size, Number: f.lineNo, Truncated: true}}
		f.long, f.readOff = nil, f.size
		if err := h.Lines(f, last); err != nil {
			return err
		}
	} else if err := t.finishPartial(f, h); err != nil {
		return err
	}
	f.finished = true
	if f.fd != nil {
		f.fd.Close()
		f.fd = nil
	}
	if t.byInode[inode{f.dev, f.ino}] == f {
		delete(t.byInode, inode{f.dev, f.ino})
	}
	t.log.Info("file finished", "path", f.Path, "offset", f.readOff, "lines", f.lineNo, "gone", f.gone)
	return h.Finished(f)
}

// finishPartial reads a last line that has no line break (the read loop
// leaves it for a later read) and hands it over.
func (t *Tailer) finishPartial(f *File, h Handler) error {
	if f.fd == nil {
		return nil
	}
	fi, err := f.fd.Stat()
	if err != nil || fi.Size() <= f.readOff {
		return nil
	}
	n := fi.Size() - f.readOff
	if n > int64(t.o.MaxLineBytes) {
		n = int64(t.o.MaxLineBytes) + 1
	}
	buf := make([]byte, n)
	if _, err := f.fd.ReadAt(buf, f.readOff); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("tail: read %s at %d: %w", f.Path, f.readOff, err)
	}
	if bytes.IndexByte(buf, '\n') >= 0 {
		return nil // it grew meanwhile: the next read takes it
	}
	f.lineNo++
	line := lines.Line{Data: bytes.TrimSuffix(buf, []byte{'\r'}), Offset: f.readOff, End: fi.Size(), Number: f.lineNo}
	if len(line.Data) > t.o.MaxLineBytes {
		line.Data, line.Truncated = line.Data[:t.o.MaxLineBytes], true
	}
	f.readOff = fi.Size()
	return h.Lines(f, []lines.Line{line})
}

// truncated starts a new generation of f's inode after it was truncated.
func (t *Tailer) truncated(f *File, size int64, now time.Time, h Handler) error {
	t.log.Warn("file truncated; reading it again from its start", "path", f.Path, "was_read_to", f.readOff, "size", size)
	t.retired = append(t.retired, retired{fp: f.fp, readOff: f.readOff, lineNo: f.lineNo, prog: f.Progress, at: now})
	fd := f.fd
	f.fd = nil // the next generation owns the descriptor
	f.finished, f.generated, f.gone = true, true, true
	delete(t.byInode, inode{f.dev, f.ino})
	if err := h.Finished(f); err != nil {
		return err
	}
	n := &File{Path: f.Path, dev: f.dev, ino: f.ino, fd: fd, grewAt: now, size: size}
	var err error
	if n.fp, n.fpLen, err = fingerprint(fd, min(size, int64(t.o.FingerprintBytes))); err != nil {
		return fmt.Errorf("tail: %s: %w", f.Path, err)
	}
	n.Progress = t.store.Track(t.o.Flow, t.identity(n), state.Position{})
	n.Progress.SetSize(size)
	t.files = append(t.files, n)
	t.byInode[inode{n.dev, n.ino}] = n
	h.Started(n)
	for _, c := range t.copies {
		if c.orig == f {
			t.copyReady(c, h)
		}
	}
	return nil
}

// sweep drops finished generations whose records were all acknowledged:
// a file that is gone leaves the checkpoint, and retired generations are
// forgotten a minute after their truncation.
func (t *Tailer) sweep(now time.Time) {
	kept := t.files[:0]
	for _, f := range t.files {
		if f.finished && f.Progress.Settled() && (f.gone || f.generated) {
			t.store.Forget(t.o.Flow, f.Progress)
			continue
		}
		kept = append(kept, f)
	}
	clear(t.files[len(kept):])
	t.files = kept
	r := t.retired[:0]
	for _, g := range t.retired {
		if now.Sub(g.at) < time.Minute {
			r = append(r, g)
		}
	}
	t.retired = r
}

// fingerprint hashes the first n bytes of fd.
func fingerprint(fd *os.File, n int64) (string, int, error) {
	buf := make([]byte, n)
	if _, err := fd.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
		return "", 0, err
	}
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:16]), int(n), nil
}

// lastLineEnd returns the offset after the last line break before size
// (looking back at most 1 MiB), or 0.
func lastLineEnd(fd *os.File, size int64) int64 {
	const back = 1 << 20
	from := max(0, size-back)
	buf := make([]byte, size-from)
	if _, err := fd.ReadAt(buf, from); err != nil && !errors.Is(err, io.EOF) {
		return 0
	}
	if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
		return from + int64(i) + 1
	}
	return from
}

// ReadLine reads line n (1-based) of the file again, from its start (at
// most the first 4 MiB are searched): a CSV header when reading resumes
// after it.
func (f *File) ReadLine(n int64) ([]byte, error) {
	if f.fd == nil {
		return nil, fmt.Errorf("tail: %s is closed", f.Path)
	}
	return readLine(io.NewSectionReader(f.fd, 0, 4<<20), n)
}

// readLine returns line n (1-based) of r, without its line break.
func readLine(r io.Reader, n int64) ([]byte, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	for i := int64(1); ; i++ {
		line, err := br.ReadBytes('\n')
		if i == n && (err == nil || (errors.Is(err, io.EOF) && len(line) > 0)) {
			return bytes.TrimSuffix(bytes.TrimSuffix(line, []byte{'\n'}), []byte{'\r'}), nil
		}
		if err != nil {
			return nil, fmt.Errorf("tail: line %d not found: %w", n, err)
		}
	}
}
