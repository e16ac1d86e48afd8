// Package lines turns the lines of one source (a file, an S3 object) into
// the records the agent puts: it skips header lines, joins multi-line
// records by a start pattern (flushed by the next start line, a size limit
// or a timeout), trims, converts CSV and logs (Apache, syslog, a custom
// regex) to JSON objects, adds metadata (host, file, offset) and picks each
// record's partition key (random, the line's hash, or a field).
//
// It owns the per-source state of that processing (Source: the multi-line
// record being assembled, a CSV header's names) and the JSON it writes. It
// must never drop a line silently: every line ends up in a record, in a
// dead letter with a reason (a line that cannot be converted, a record over
// the size limit), or is skipped for a stated reason (a header, an empty
// line), and the Sink is told which, in line order, so that the checkpoint
// can pass it. It does no I/O and owns no goroutines; a Processor is used
// by one goroutine at a time (the flow's reader), and the bytes it hands to
// the Sink are valid only during the call.
//
// # JSON
//
// Converted lines become one object with a key per field, in the format's
// field order (renamed by FieldNames): strings as JSON strings (invalid
// UTF-8 replaced by U+FFFD, as encoding/json does), integer fields of log
// formats (status, bytes, pid, ...) as numbers when they are decimal
// integers, timestamps as RFC 3339 strings in UTC (a timestamp that is not
// in the format's layout makes the line a dead letter), absent fields as
// null. CSV values are strings, or numbers with Convert.Numbers when they
// are JSON numbers. Metadata keys are appended to a JSON object record; a
// record that is not one becomes {"message": <text>, <metadata>}.
package lines
