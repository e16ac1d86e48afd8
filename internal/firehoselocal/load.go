package firehoselocal

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

const (
	// maxManifestEntries bounds how many staged objects one COPY loads: a
	// loader that fell behind catches up with larger COPYs, as Firehose's
	// does, without unbounded manifests.
	maxManifestEntries = 100
	// loadTimeout bounds one COPY attempt (connect, read the manifest and
	// objects, load) so that a hung server cannot stall the stream forever.
	loadTimeout = 5 * time.Minute
	// connectTimeout bounds connecting to PostgreSQL.
	connectTimeout = 5 * time.Second
	// shutdownWriteTimeout bounds the errors manifest written for objects
	// abandoned when Close's deadline passes.
	shutdownWriteTimeout = 5 * time.Second
)

// manifest is the Redshift COPY manifest Firehose writes for each load and,
// for loads it gives up on, under errors/.
type manifest struct {
	Entries []manifestEntry `json:"entries"`
}

type manifestEntry struct {
	URL       string `json:"url"`
	Mandatory bool   `json:"mandatory"`
}

// loader runs one Redshift destination's COPYs, one at a time. It is owned
// by the stream's goroutine (run), which waits for it.
type loader struct {
	s    *Server
	st   *stream
	r    *redshiftTarget
	conn *pgx.Conn // open between loads; closed after a failure and at the end
}

// loadLoop loads staged objects until staging is done and nothing is left,
// or until Close's deadline cancels the server's context.
func (st *stream) loadLoop(s *Server) {
	l := &loader{s: s, st: st, r: st.dest.redshift}
	defer l.closeConn()
	for {
		objs := st.takeStaged(maxManifestEntries)
		if len(objs) == 0 {
			select {
			case <-st.loadKick:
				continue
			case <-st.stagingDone:
				if st.hasStaged() {
					continue
				}
				return
			case <-s.baseCtx.Done():
				l.abandon(st.takeStaged(-1))
				return
			}
		}
		if !l.load(objs) {
			l.abandon(append(objs, st.takeStaged(-1)...))
			return
		}
	}
}

// takeStaged removes up to n staged objects (all when n < 0) from the
// queue, oldest first.
func (st *stream) takeStaged(n int) []stagedObject {
	st.mu.Lock()
	defer st.mu.Unlock()
	if n < 0 || n > len(st.staged) {
		n = len(st.staged)
	}
	out := slices.Clone(st.staged[:n])
	st.staged = st.staged[n:]
	return out
}

func (st *stream) hasStaged() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.staged) > 0
}

// load COPYs objs, retrying with backoff until RetryOptions.DurationInSeconds
// has passed since the first attempt; then it lists them in an errors
// manifest and moves on. It returns false only when the server's context
// ended first (objs are then neither loaded nor listed).
func (l *loader) load(objs []stagedObject) bool {
	s, st, r := l.s, l.st, l.r
	name := hourPath(objs[0].oldest) + objectName(st.name, objs[0].oldest, uuid.NewString())
	manifestKey := st.dest.prefix + "manifests/" + name
	errorKey := st.dest.prefix + "errors/manifests/" + name
	body := manifestBody(st.dest.bucket, objs)

	deadline := time.Now().Add(r.retryDuration())
	manifestWritten := false
	var bo retry
	for attempt := 1; ; attempt++ {
		rows, err := l.attempt(manifestKey, body, &manifestWritten)
		if err == nil {
			st.loaded(len(objs), rows)
			s.log.Debug("loaded", "stream", st.name, "manifest", manifestKey, "objects", len(objs), "rows", rows)
			return true
		}
		l.closeConn() // the connection may be broken: a new one next time
		st.loadAttemptFailed(err)
		if s.baseCtx.Err() != nil {
			return false
		}
		left := time.Until(deadline)
		if left <= 0 {
			s.log.Error("COPY failed past RetryOptions.DurationInSeconds; skipping the objects",
				"stream", st.name, "objects", len(objs), "attempts", attempt, "errors_manifest", errorKey, "err", err)
			if !l.writeErrorManifest(errorKey, body) {
				return false
			}
			st.loadSkipped(len(objs))
			return true
		}
		wait := min(bo.failed(), left)
		s.log.Warn("COPY failed; retrying", "stream", st.name, "manifest", manifestKey,
			"attempt", attempt, "retry_in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-s.baseCtx.Done():
			t.Stop()
			return false
		}
	}
}

// attempt is one COPY: write the manifest (once), then load what it lists.
func (l *loader) attempt(manifestKey string, body []byte, manifestWritten *bool) (int64, error) {
	ctx, cancel := context.WithTimeout(l.s.baseCtx, loadTimeout)
	defer cancel()
	if !*manifestWritten {
		if err := l.s.putObject(ctx, l.st.dest.bucket, manifestKey, body); err != nil {
			return 0, fmt.Errorf("write manifest: %w", err)
		}
		*manifestWritten = true
	}
	if l.conn == nil {
		conn, err := l.connect(ctx)
		if err != nil {
			return 0, err
		}
		l.conn = conn
	}
	return l.copyManifest(ctx, "s3://"+l.st.dest.bucket+"/"+manifestKey)
}

// writeErrorManifest writes the manifest of skipped objects under errors/,
// retrying until it succeeds or the server's context ends: the manifest is
// what makes the skipped objects recoverable.
func (l *loader) writeErrorManifest(key string, body []byte) bool {
	var bo retry
	for {
		err := l.s.putObject(l.s.baseCtx, l.st.dest.bucket, key, body)
		if err == nil {
			return true
		}
		l.st.deliveryFailed(fmt.Errorf("errors manifest: %w", err))
		t := time.NewTimer(bo.failed())
		select {
		case <-t.C:
		case <-l.s.baseCtx.Done():
			t.Stop()
			return false
		}
	}
}

// abandon records objects left unloaded at shutdown and, best effort, lists
// them in an errors manifest so that they can still be backfilled.
func (l *loader) abandon(objs []stagedObject) {
	if len(objs) == 0 {
		return
	}
	st := l.st
	key := st.dest.prefix + "errors/manifests/" + hourPath(objs[0].oldest) +
		objectName(st.name, objs[0].oldest, uuid.NewString())
	ctx, cancel := context.WithTimeout(context.Background(), shutdownWriteTimeout)
	defer cancel()
	err := l.s.putObject(ctx, st.dest.bucket, key, manifestBody(st.dest.bucket, objs))
	st.mu.Lock()
	st.abandoned += len(objs)
	st.mu.Unlock()
	l.s.log.Error("shutting down with staged objects not loaded into PostgreSQL",
		"stream", st.name, "objects", len(objs), "errors_manifest", key, "manifest_err", err)
}

func manifestBody(bucket string, objs []stagedObject) []byte {
	m := manifest{Entries: make([]manifestEntry, len(objs))}
	for i, o := range objs {
		m.Entries[i] = manifestEntry{URL: "s3://" + bucket + "/" + o.key, Mandatory: true}
	}
	body, err := json.Marshal(m)
	if err != nil {
		panic("firehoselocal: marshal manifest: " + err.Error()) // plain strings and bools
	}
	return body
}

// hourPath is YYYY/MM/DD/HH/ of t in UTC, the layout Firehose uses under
// manifests/ and errors/manifests/.
func hourPath(t time.Time) string { return t.UTC().Format("2006/01/02/15/") }

func (l *loader) connect(ctx context.Context) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(postgresConnString(l.s.pgURL, l.r))
	if err != nil {
		return nil, fmt.Errorf("postgres config for database %s: %w", l.r.database, err)
	}
	cfg.ConnectTimeout = connectTimeout
	cfg.RuntimeParams["application_name"] = "firehose-local/" + l.st.name
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to postgres database %s: %w", l.r.database, err)
	}
	return conn, nil
}

func (l *loader) closeConn() {
	if l.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	_ = l.conn.Close(ctx) // the connection is being dropped either way
	l.conn = nil
}

// column is a column of the COPY's target table.
type column struct {
	name     string
	typeOID  uint32
	category string // pg_type.typcategory: "S" for string types
}

// tableColumns resolves DataTableName and DataTableColumns against the
// catalog, as COPY does: a missing table or column fails the load.
func (l *loader) tableColumns(ctx context.Context) (table string, cols []column, err error) {
	var oid uint32
	err = l.conn.QueryRow(ctx, "SELECT $1::text::regclass::oid, $1::text::regclass::text", l.r.table).Scan(&oid, &table)
	if err != nil {
		return "", nil, fmt.Errorf("table %s: %w", l.r.table, err)
	}
	rows, err := l.conn.Query(ctx, `SELECT a.attname, a.atttypid, t.typcategory::text
		FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
		WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`, oid)
	if err != nil {
		return "", nil, fmt.Errorf("columns of %s: %w", table, err)
	}
	all, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (column, error) {
		var c column
		err := row.Scan(&c.name, &c.typeOID, &c.category)
		return c, err
	})
	if err != nil {
		return "", nil, fmt.Errorf("columns of %s: %w", table, err)
	}
	names, err := splitColumns(l.r.columns)
	if err != nil { // validated at creation
		return "", nil, err
	}
	if len(names) == 0 {
		return table, all, nil
	}
	for _, n := range names {
		i := slices.IndexFunc(all, func(c column) bool { return c.name == n })
		if i < 0 {
			return "", nil, fmt.Errorf("column %q of relation %s does not exist", n, table)
		}
		cols = append(cols, all[i])
	}
	return table, cols, nil
}

// copyManifest reads the manifest at manifestURL and loads every object it
// lists with one COPY ... FROM STDIN, so the load is all or nothing, as a
// Redshift COPY is. The objects are fetched and converted while PostgreSQL
// reads them.
func (l *loader) copyManifest(ctx context.Context, manifestURL string) (int64, error) {
	raw, err := l.getObject(ctx, manifestURL)
	if err != nil {
		return 0, fmt.Errorf("read manifest: %w", err)
	}
	var m manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return 0, fmt.Errorf("manifest %s: %w", manifestURL, err)
	}
	table, cols, err := l.tableColumns(ctx)
	if err != nil {
		return 0, err
	}
	sql := copySQL(table, cols, l.r.copy)

	pr, pw := io.Pipe()
	fed := make(chan error, 1)
	go func() {
		err := l.feed(ctx, pw, m.Entries, cols)
		pw.CloseWithError(err) // nil: EOF for the COPY
		fed <- err
	}()
	tag, copyErr := l.conn.PgConn().CopyFrom(ctx, pr, sql)
	pr.CloseWithError(errCopyEnded) // unblock the feeder if COPY stopped early
	feedErr := <-fed
	switch {
	case feedErr != nil && !errors.Is(feedErr, errCopyEnded):
		return 0, feedErr // the root cause; COPY only saw it as a failed input
	case copyErr != nil:
		return 0, fmt.Errorf("COPY %s: %w", table, copyErr)
	}
	return tag.RowsAffected(), nil
}

var errCopyEnded = errors.New("COPY ended")

// copySQL is the COPY FROM STDIN that loads the converted stream. Both
// formats arrive as CSV: CSV objects as they are (Redshift's CSV options
// mapped to PostgreSQL's), JSON objects converted to CSV rows with every
// value quoted and NULL as an unquoted empty field.
func copySQL(table string, cols []column, o copyOptions) string {
	names := make([]string, len(cols))
	var textCols []string
	for i, c := range cols {
		names[i] = pgx.Identifier{c.name}.Sanitize()
		if c.category == "S" {
			textCols = append(textCols, names[i])
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "COPY %s (%s) FROM STDIN WITH (FORMAT csv", table, strings.Join(names, ", "))
	if o.format == formatCSV {
		fmt.Fprintf(&b, ", DELIMITER %s, QUOTE %s", sqlString(string(o.delimiter)), sqlString(string(o.quote)))
		switch {
		case o.null != nil:
			fmt.Fprintf(&b, ", NULL %s", sqlString(*o.null))
		case !o.emptyAsNull && len(textCols) > 0:
			// Redshift loads an empty CHAR/VARCHAR field as an empty
			// string (unless EMPTYASNULL) and other empty fields as NULL.
			fmt.Fprintf(&b, ", FORCE_NOT_NULL (%s)", strings.Join(textCols, ", "))
		}
	}
	b.WriteString(")")
	return b.String()
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// getObject reads an s3://bucket/key object.
func (l *loader) getObject(ctx context.Context, s3URL string) ([]byte, error) {
	body, err := l.openObject(ctx, s3URL)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s3URL, err)
	}
	return b, nil
}

func (l *loader) openObject(ctx context.Context, s3URL string) (io.ReadCloser, error) {
	// Manifest URLs carry keys as they are, not percent-encoded.
	bucket, key, ok := strings.Cut(strings.TrimPrefix(s3URL, "s3://"), "/")
	if !strings.HasPrefix(s3URL, "s3://") || !ok || bucket == "" || key == "" {
		return nil, fmt.Errorf("manifest entry %q is not an s3://bucket/key URL", s3URL)
	}
	out, err := l.s.cfg.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", s3URL, err)
	}
	return out.Body, nil
}

// feed writes every object of the manifest, converted for COPY, to w.
func (l *loader) feed(ctx context.Context, w io.Writer, entries []manifestEntry, cols []column) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	for _, e := range entries {
		if err := l.feedObject(ctx, bw, e.URL, cols); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func (l *loader) feedObject(ctx context.Context, w *bufio.Writer, s3URL string, cols []column) error {
	body, err := l.openObject(ctx, s3URL)
	if err != nil {
		return err
	}
	defer body.Close()
	br := bufio.NewReaderSize(body, 64<<10)
	var in io.Reader = br
	magic, _ := br.Peek(2)
	isGzip := len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b
	switch {
	case l.r.copy.gzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%s: CopyOptions has GZIP but the object is not gzip: %w", s3URL, err)
		}
		defer zr.Close()
		in = zr
	case isGzip:
		return fmt.Errorf("%s is gzip-compressed but CopyOptions has no GZIP", s3URL)
	}
	if l.r.copy.format == formatJSON {
		return l.feedJSON(w, in, s3URL, cols)
	}
	return l.feedCSV(w, in, s3URL)
}

// feedCSV copies a CSV object after skipping IGNOREHEADER lines, and ends
// it with a newline so that the next object starts a new row.
func (l *loader) feedCSV(w *bufio.Writer, in io.Reader, s3URL string) error {
	br := bufio.NewReader(in)
	for range l.r.copy.ignoreHeader {
		if _, err := br.ReadString('\n'); err != nil {
			if errors.Is(err, io.EOF) {
				return nil // no more than the header: nothing to load
			}
			return fmt.Errorf("read %s: %w", s3URL, err)
		}
	}
	tw := &lastByteWriter{w: w}
	if _, err := io.Copy(tw, br); err != nil {
		return fmt.Errorf("read %s: %w", s3URL, err)
	}
	if tw.n > 0 && tw.last != '\n' {
		return w.WriteByte('\n')
	}
	return nil
}

type lastByteWriter struct {
	w    io.Writer
	n    int64
	last byte
}

func (t *lastByteWriter) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	if n > 0 {
		t.n += int64(n)
		t.last = p[n-1]
	}
	return n, err
}

// feedJSON converts a stream of JSON objects (concatenated or one per line,
// as Firehose delivers them) to CSV rows: JSON 'auto' maps each object's
// keys to the columns by name, exactly ('auto') or ignoring case ('auto
// ignorecase'); a missing key or null loads NULL; nested objects and arrays
// load as their JSON text.
func (l *loader) feedJSON(w *bufio.Writer, in io.Reader, s3URL string, cols []column) error {
	dec := json.NewDecoder(in)
	dec.UseNumber()
	for n := 1; ; n++ {
		var obj map[string]json.RawMessage
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			var typeErr *json.UnmarshalTypeError
			if errors.As(err, &typeErr) {
				return fmt.Errorf("%s: JSON record %d is not an object: JSON 'auto' loads objects only", s3URL, n)
			}
			return fmt.Errorf("%s: JSON record %d: %w", s3URL, n, err)
		}
		if obj == nil {
			return fmt.Errorf("%s: JSON record %d is null, not an object", s3URL, n)
		}
		for i, c := range cols {
			if i > 0 {
				if err := w.WriteByte(','); err != nil {
					return err
				}
			}
			raw, ok := l.lookup(obj, c.name)
			if !ok {
				continue // NULL
			}
			v, isNull, err := jsonFieldText(raw, c, l.r.copy.timeFormat)
			if err != nil {
				return fmt.Errorf("%s: JSON record %d, column %s: %w", s3URL, n, c.name, err)
			}
			if isNull {
				continue
			}
			writeCSVQuoted(w, v)
		}
		if err := w.WriteByte('\n'); err != nil {
			return err
		}
	}
}

func (l *loader) lookup(obj map[string]json.RawMessage, col string) (json.RawMessage, bool) {
	if v, ok := obj[col]; ok || !l.r.copy.ignoreCase {
		return v, ok
	}
	for k, v := range obj {
		if strings.EqualFold(k, col) {
			return v, true
		}
	}
	return nil, false
}

// jsonFieldText renders one JSON value as the text COPY loads.
func jsonFieldText(raw json.RawMessage, c column, timeFormat string) (text string, isNull bool, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", true, nil
	}
	switch raw[0] {
	case 'n':
		return "", true, nil
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", false, err
		}
		return s, false, nil
	case '{', '[':
		var b bytes.Buffer
		if err := json.Compact(&b, raw); err != nil {
			return "", false, err
		}
		return b.String(), false, nil
	case 't', 'f':
		return string(raw), false, nil
	}
	// A number.
	if (c.typeOID == pgtype.TimestampOID || c.typeOID == pgtype.TimestamptzOID) &&
		(timeFormat == "epochsecs" || timeFormat == "epochmillisecs") {
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil {
			return "", false, err
		}
		unit := float64(time.Second)
		if timeFormat == "epochmillisecs" {
			unit = float64(time.Millisecond)
		}
		return time.Unix(0, int64(f*unit)).UTC().Format("2006-01-02 15:04:05.999999Z07:00"), false, nil
	}
	return string(raw), false, nil
}

func writeCSVQuoted(w *bufio.Writer, s string) {
	w.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			w.WriteByte('"')
		}
		w.WriteByte(s[i])
	}
	w.WriteByte('"')
}

// loaded records a successful COPY of n objects.
func (st *stream) loaded(n int, rows int64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.stats.LoadsSucceeded++
	st.stats.RowsLoaded += rows
	st.stats.ObjectsPendingLoad -= int64(n)
}

func (st *stream) loadAttemptFailed(err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.stats.LoadAttemptsFailed++
	st.stats.LastLoadError = err.Error()
}

// loadSkipped records a load given up after the retry duration: its n
// objects are listed in an errors manifest.
func (st *stream) loadSkipped(n int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.stats.LoadsFailed++
	st.stats.ObjectsSkipped += int64(n)
	st.stats.ObjectsPendingLoad -= int64(n)
}
