// Package decode turns the records of one KCL ProcessRecords call into one
// Arrow record batch of the pipeline's declared schema, and every record
// that cannot become a row into a dead letter with a reason. Records are
// JSON (New, and NewFormat's default) or one of the formats of NewFormat:
// text lines (csv, apache_common, apache_combined, apache_error, syslog,
// regex — split by the lineparse subpackage) and CloudWatch Logs
// subscription envelopes (cloudwatch_logs); see "Other formats" below.
//
// It owns one reusable buffer per column and a strict single-pass JSON scanner
// (no third-party parser: the ones that are fast are lenient about escapes,
// control characters and number syntax, and bad input must be caught here).
// It must never drop a record silently, never let a rejected record leave
// values behind in the columns, and never keep a reference to
// SourceRecord.Data after Decode returns. It owns no goroutines and no I/O.
//
// # Concurrency
//
// A Decoder reuses its column buffers, scanner and scratch buffers across calls,
// so it is used by one goroutine at a time: one Decoder per shard processor.
// The batches it returns are independent of it.
//
// # What a record must look like
//
// A record is exactly one JSON value (RFC 8259, exactly what encoding/json's
// json.Valid accepts, nesting up to 10000 levels) with optional surrounding
// whitespace, and that value is an object. Keys not in the schema are
// ignored, but their values must still be valid JSON. If a key occurs twice,
// the last occurrence wins, entirely (as with encoding/json into a map).
//
// A field's Path (its Name when empty) is split at dots into keys of nested
// objects: "user.id" reads {"user":{"id":...}}. A key that itself contains a
// dot cannot be addressed. Arrays are not indexed.
//
// Missing or null (including a null object on the path): the field's Default
// if it has one, else null if it is Nullable, else the record is a dead
// letter (missing_field). An object on the path that holds another type
// ({"user":"u-1"} for user.id) is a type_mismatch, not a missing value.
//
// Values are never coerced between JSON types:
//
//   - string: a JSON string only (42 is a type_mismatch). Escapes are
//     decoded; the result must be valid UTF-8, and a \u escape of an
//     unpaired surrogate is rejected too (invalid_utf8) rather than replaced.
//   - int64: a JSON number whose exact value is an integer: 42, 42.0 and
//     4.2e1 are 42; 1.5 is a type_mismatch; beyond ±2^63 is out_of_range.
//     Evaluated on the decimal digits, never through float64.
//   - float64: any JSON number, correctly rounded; overflow (1e309) is
//     out_of_range, underflow rounds to 0. No strings, no NaN/Infinity
//     (they are not JSON).
//   - bool: true or false only (not 0/1, not "true").
//   - timestamp (Arrow timestamp[us, UTC]), by Field.Format:
//     "rfc3339" (default): a string as time.RFC3339Nano parses it (fraction
//     optional, any offset, converted to UTC);
//     "unix": a number of seconds, integer or fractional;
//     "unix_ms": a number of milliseconds, integer or fractional;
//     anything else: a Go layout, the value a string (UTC unless the layout
//     has a zone). A string for unix formats or a number for string formats is
//     a type_mismatch. Digits below a microsecond are floored (toward the
//     past), as time.Time.UnixMicro does. Instants outside the years
//     0001-9999 are out_of_range: RFC 3339 output could not write them.
//
// A Default is parsed at New time by the same rules, from its text: "42.0"
// is a valid int64 default, "1700000000" a valid unix one.
//
// # Reasons
//
// A dead letter's Reason is "<code>: <detail>", the code one of the Reason*
// constants (see ReasonCode). When a record has several problems the reason
// is the first of: invalid JSON, not an object, then the first failing field
// in schema order. Details name the column and quote at most 64 bytes of
// input. DeadLetter.Pipeline is left empty for the caller to fill.
//
// # Other formats
//
// The same column rules apply; only where a value comes from differs.
//
// Text formats read one row per line: a record may hold several lines
// (split at LF, a CR before it dropped); empty lines are skipped and
// counted (Skipped, SkipEmptyLine). A field's path names a field of the
// format (lineparse documents each format's fields; for csv a column, by
// default the schema's paths in order; for regex a named group). A value is
// text and is converted as the JSON value a record would have carried: a
// string column takes it as it is (valid UTF-8 only), an int64, float64 or
// unix timestamp column needs the text of a JSON number, a bool column
// "true" or "false", a timestamp column with a string format parses it as
// usual, and a timestamp column without a format that reads the format's
// own time field (apache "time", syslog "time") uses that format's layout.
// A field the line does not carry (Apache's "-", syslog's "-", an empty CSV
// field, a group that did not match) is missing, with the usual
// default/null/missing_field rules. A line that does not have its format's
// shape is an invalid_line dead letter; a CSV line equal to the column
// names is skipped as a header when csv.header is set. The dead letter of
// one line of a record holds that line as its raw bytes.
//
// cloudwatch_logs records are gzip-compressed subscription envelopes
// (invalid_gzip when they are not, inflating to at most MaxInflatedBytes).
// A CONTROL_MESSAGE is skipped and counted (SkipControlMessage); a
// DATA_MESSAGE makes one row per log event. Each event is decoded as the
// JSON object {"owner", "logGroup", "logStream", "id", "timestamp",
// "message"} with the JSON rules; "timestamp" is unix_ms unless a format is
// set. With any message.<path> field, the message is read as JSON (it must
// be exactly one JSON value, else that event is an invalid_json dead
// letter). An envelope that is not one (invalid_json, invalid_envelope)
// makes the whole record one dead letter; a bad event makes only itself
// one, with the event's JSON object as its raw bytes.
//
// A record of these formats may make many rows, or none. Every row's
// origin is its record's (sequence and sub-sequence numbers included), so
// a checkpoint covers all rows of a record or none.
package decode
