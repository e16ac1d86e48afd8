// Package lineparse splits one text line of a known log or delimited format
// into named fields: CSV (any one-byte delimiter, RFC 4180 quoting), Apache
// access logs (common and combined), the Apache error log, syslog (RFC 3164
// and RFC 5424, told apart line by line) and a custom regular expression
// with named groups.
//
// It owns the formats' grammars and their timestamp layouts, and nothing
// else: the pipeline's decoder (processors/decode) turns the fields into
// Arrow columns with its own type rules, and the agent (ingest) renders them
// as JSON. It must never allocate per line on the success path (the regex
// format is the exception: Go's regexp returns a new index slice per match),
// never keep a reference to a line after the next Parse, and never accept a
// line that does not have the format's shape: a line it cannot split is a
// problem the caller sends to dead-letter, not a row of empty fields.
//
// # Values
//
// Parse returns one Value per field, in the order of Fields. A Value's bytes
// are a sub-slice of the line, of the parser's scratch buffer (quoted
// values that contained escapes) or of a constant (syslog's facility and
// severity, computed from the priority), valid until the next Parse and
// never to be modified. A field that
// the line does not carry is not Present: Apache's "-" for a missing ident,
// user, byte count, referrer or user agent, syslog's NILVALUE "-", an empty
// unquoted CSV field (a quoted empty field "" is present and empty), a regex
// group that did not participate in the match, the method, path and
// protocol of an Apache request that is not "METHOD PATH PROTOCOL".
//
// Apache writes '"' and '\' inside quoted fields as \" and \\; those two
// are unescaped, every other escape Apache writes (\xhh, \n, ...) is kept
// as written.
//
// # Timestamps
//
// Fields of Kind Time hold the format's own timestamp text; Parser.Micros
// converts it to microseconds since the epoch (UTC). Apache access logs and
// RFC 5424 carry a UTC offset; the Apache error log and RFC 3164 do not, and
// are read in Options.Location (UTC by default). RFC 3164 has no year
// either: the year is the one that puts the time nearest before
// Options.Now, allowing one day ahead for clocks that drift (a December line
// read in January is last year's).
//
// # Concurrency
//
// A Parser reuses its value slice and scratch buffer: one goroutine at a
// time.
package lineparse
