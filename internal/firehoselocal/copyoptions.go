package firehoselocal

import (
	"fmt"
	"strconv"
	"strings"
)

// copyFormat is the input format a Redshift COPY reads.
type copyFormat int

const (
	formatCSV copyFormat = iota + 1
	formatJSON
)

// copyOptions is the part of Redshift's COPY syntax that firehose-local
// emulates, parsed from CopyCommand.CopyOptions.
type copyOptions struct {
	format       copyFormat
	delimiter    byte    // CSV: field delimiter, default ','
	quote        byte    // CSV: quote character, default '"'
	null         *string // CSV: NULL AS; nil: Redshift's default
	ignoreHeader int     // CSV: lines skipped at the start of every object
	emptyAsNull  bool    // CSV: empty CHAR/VARCHAR fields load as NULL
	gzip         bool    // objects are gzip-compressed
	ignoreCase   bool    // JSON 'auto ignorecase'
	timeFormat   string  // "", "auto", "epochsecs" or "epochmillisecs"
}

// copyToken is a word (keyword or number) or a quoted string of CopyOptions.
type copyToken struct {
	text   string
	quoted bool
}

func tokenizeCopyOptions(s string) ([]copyToken, error) {
	var out []copyToken
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\'':
			var b strings.Builder
			j := i + 1
			closed := false
			for j < len(s) {
				switch {
				case s[j] == '\'' && j+1 < len(s) && s[j+1] == '\'':
					b.WriteByte('\'')
					j += 2
				case s[j] == '\'':
					closed = true
					j++
				case s[j] == '\\' && j+1 < len(s):
					b.WriteString(unescapeCopy(s[j+1]))
					j += 2
				default:
					b.WriteByte(s[j])
					j++
				}
				if closed {
					break
				}
			}
			if !closed {
				return nil, fmt.Errorf("unterminated quoted string at offset %d", i)
			}
			out = append(out, copyToken{text: b.String(), quoted: true})
			i = j
		case isASCIILetter(c) || (c >= '0' && c <= '9') || c == '_':
			j := i
			for j < len(s) && (isASCIILetter(s[j]) || (s[j] >= '0' && s[j] <= '9') || s[j] == '_') {
				j++
			}
			out = append(out, copyToken{text: s[i:j]})
			i = j
		default:
			return nil, fmt.Errorf("unexpected %q at offset %d", string(c), i)
		}
	}
	return out, nil
}

// unescapeCopy maps the escape sequences Redshift accepts in quoted COPY
// arguments (e.g. DELIMITER '\t').
func unescapeCopy(c byte) string {
	switch c {
	case 't':
		return "\t"
	case 'n':
		return "\n"
	case 'r':
		return "\r"
	default:
		return `\` + string(c)
	}
}

// copyParams Redshift accepts that firehose-local does not emulate. They
// are refused by name, like anything else it does not know.
var unemulatedCopyParams = map[string]bool{
	"FIXEDWIDTH": true, "SHAPEFILE": true, "AVRO": true, "PARQUET": true, "ORC": true,
	"BZIP2": true, "LZOP": true, "ZSTD": true, "ACCEPTANYDATE": true, "ACCEPTINVCHARS": true,
	"BLANKSASNULL": true, "ENCODING": true, "ESCAPE": true, "EXPLICIT_IDS": true, "FILLRECORD": true,
	"IGNOREBLANKLINES": true, "REMOVEQUOTES": true, "ROUNDEC": true, "TRIMBLANKS": true,
	"TRUNCATECOLUMNS": true, "MAXERROR": true, "NOLOAD": true, "MANIFEST": true, "REGION": true,
	"READRATIO": true, "ENCRYPTED": true, "SERIALIZETOJSON": true,
}

// parseCopyOptions parses CopyOptions. What it cannot emulate faithfully it
// refuses with InvalidArgumentException at creation, where Redshift would
// accept the stream and fail each COPY (or load differently) later.
func parseCopyOptions(s string) (copyOptions, error) {
	o := copyOptions{delimiter: ',', quote: '"'}
	tokens, err := tokenizeCopyOptions(s)
	if err != nil {
		return o, invalidArgument("CopyCommand.CopyOptions %q cannot be parsed: %v", s, err)
	}
	var csvOnly []string // CSV parameters seen, which JSON does not allow
	i := 0
	next := func() (copyToken, bool) {
		if i >= len(tokens) {
			return copyToken{}, false
		}
		t := tokens[i]
		i++
		return t, true
	}
	optionalAS := func() {
		if i < len(tokens) && !tokens[i].quoted && strings.EqualFold(tokens[i].text, "AS") {
			i++
		}
	}
	quotedArg := func(param string) (string, error) {
		optionalAS()
		t, ok := next()
		if !ok || !t.quoted {
			return "", invalidArgument("CopyCommand.CopyOptions: %s needs a quoted argument", param)
		}
		return t.text, nil
	}
	for {
		t, ok := next()
		if !ok {
			break
		}
		word := strings.ToUpper(t.text)
		if t.quoted {
			return o, invalidArgument("CopyCommand.CopyOptions: unexpected quoted string '%s'", t.text)
		}
		switch word {
		case "FORMAT":
			optionalAS()
		case "CSV":
			if o.format == formatJSON {
				return o, invalidArgument("CopyCommand.CopyOptions: CSV and JSON cannot be used together")
			}
			o.format = formatCSV
			if i < len(tokens) && !tokens[i].quoted && strings.EqualFold(tokens[i].text, "QUOTE") {
				i++
				q, err := quotedArg("QUOTE")
				if err != nil {
					return o, err
				}
				if len(q) != 1 {
					return o, unsupported(fmt.Sprintf("CopyOptions QUOTE %q (a single-byte quote character only)", q))
				}
				o.quote = q[0]
			}
		case "JSON":
			if o.format == formatCSV {
				return o, invalidArgument("CopyCommand.CopyOptions: CSV and JSON cannot be used together")
			}
			o.format = formatJSON
			arg, err := quotedArg("JSON")
			if err != nil {
				return o, err
			}
			switch strings.ToLower(arg) {
			case "auto":
			case "auto ignorecase":
				o.ignoreCase = true
			default:
				return o, unsupported(fmt.Sprintf("CopyOptions JSON '%s' (only 'auto' and 'auto ignorecase')", arg))
			}
		case "DELIMITER":
			d, err := quotedArg("DELIMITER")
			if err != nil {
				return o, err
			}
			if len(d) != 1 {
				return o, unsupported(fmt.Sprintf("CopyOptions DELIMITER %q (a single-byte delimiter only)", d))
			}
			o.delimiter = d[0]
			csvOnly = append(csvOnly, word)
		case "IGNOREHEADER":
			optionalAS()
			n, ok := next()
			v, err := strconv.Atoi(n.text)
			if !ok || n.quoted || err != nil || v < 0 {
				return o, invalidArgument("CopyCommand.CopyOptions: IGNOREHEADER needs a non-negative number of lines")
			}
			o.ignoreHeader = v
			csvOnly = append(csvOnly, word)
		case "NULL":
			nul, err := quotedArg("NULL AS")
			if err != nil {
				return o, err
			}
			if strings.ContainsAny(nul, "\r\n") {
				return o, invalidArgument("CopyCommand.CopyOptions: NULL AS cannot contain a newline")
			}
			o.null = &nul
			csvOnly = append(csvOnly, word)
		case "EMPTYASNULL":
			o.emptyAsNull = true
			csvOnly = append(csvOnly, word)
		case "TIMEFORMAT":
			f, err := quotedArg("TIMEFORMAT")
			if err != nil {
				return o, err
			}
			switch strings.ToLower(f) {
			case "auto", "epochsecs", "epochmillisecs":
				o.timeFormat = strings.ToLower(f)
			default:
				return o, unsupported(fmt.Sprintf("CopyOptions TIMEFORMAT '%s' (only 'auto', 'epochsecs' and 'epochmillisecs')", f))
			}
		case "DATEFORMAT":
			f, err := quotedArg("DATEFORMAT")
			if err != nil {
				return o, err
			}
			if !strings.EqualFold(f, "auto") {
				return o, unsupported(fmt.Sprintf("CopyOptions DATEFORMAT '%s' (only 'auto')", f))
			}
		case "GZIP":
			o.gzip = true
		case "COMPUPDATE", "STATUPDATE":
			// Redshift's statistics and compression analysis: no effect on
			// what is loaded, so accepted and ignored.
			if i < len(tokens) && !tokens[i].quoted {
				switch strings.ToUpper(tokens[i].text) {
				case "ON", "OFF", "TRUE", "FALSE", "PRESET":
					i++
				}
			}
		default:
			if unemulatedCopyParams[word] {
				return o, unsupported("CopyOptions " + word)
			}
			return o, unsupported(fmt.Sprintf("CopyOptions %q (not a COPY parameter firehose-local knows)", t.text))
		}
	}
	switch o.format {
	case 0:
		return o, unsupported("CopyOptions without CSV or JSON 'auto' (Redshift's default pipe-delimited text format)")
	case formatJSON:
		if len(csvOnly) > 0 {
			return o, invalidArgument("CopyCommand.CopyOptions: %s cannot be used with JSON", strings.Join(csvOnly, ", "))
		}
	case formatCSV:
		if o.timeFormat == "epochsecs" || o.timeFormat == "epochmillisecs" {
			return o, unsupported("CopyOptions TIMEFORMAT '" + o.timeFormat + "' with CSV (only with JSON)")
		}
		if o.delimiter == o.quote || o.delimiter == '\n' || o.delimiter == '\r' {
			return o, invalidArgument("CopyCommand.CopyOptions: DELIMITER %q cannot be the quote character or a newline", string(o.delimiter))
		}
	}
	return o, nil
}
