package decode

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/memory"
	// The standard library's inflater allocates its Huffman tables for
	// every dynamic block; this one reuses them and inflates about twice as
	// fast.
	"github.com/klauspost/compress/gzip"
)

// cloudWatch reads CloudWatch Logs subscription records: gzip-compressed
// JSON envelopes
//
//	{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"...",
//	 "logStream":"...","subscriptionFilters":["..."],
//	 "logEvents":[{"id":"...","timestamp":1700000000000,"message":"..."}, ...]}
//
// one row per log event. Each event becomes a small JSON object of the
// envelope's fields and its own, which the ordinary JSON path decodes: the
// schema's paths name those fields, and the same rules and reasons apply.
type cloudWatch struct {
	gz       *gzip.Reader
	src      bytes.Reader
	inflated []byte

	lastLen  int // of the previous envelope
	maxBytes int // the most a record may inflate to

	env                                                scanner // the envelope
	envRoot                                            *node
	messageType, owner, logGroup, logStream, logEvents int // slots

	ev                   scanner // one log event, inside the envelope
	evRoot               *node
	evID, evTime, evMsg  int
	jsonMessage          bool    // message.<path> columns: the message is JSON
	msg                  scanner // validates a message read as JSON
	msgBuf, doc, typeBuf []byte
}

// cloudWatchPaths are the paths a cloudwatch_logs schema may read.
var cloudWatchPaths = []string{"owner", "logGroup", "logStream", "id", "timestamp", "message"}

func newCloudWatch(mem memory.Allocator, fields []Field, f Format) (*Decoder, error) {
	var errs []error
	if f.CSV.Delimiter != "" || len(f.CSV.Columns) > 0 || f.CSV.Header {
		errs = append(errs, &FormatError{"csv", "only applies to format csv"})
	}
	if f.Regex != "" {
		errs = append(errs, &FormatError{"regex", "only applies to format regex"})
	}
	if f.Timezone != "" {
		errs = append(errs, &FormatError{"timezone", "only applies to formats syslog and apache_error"})
	}
	cw := &cloudWatch{maxBytes: f.MaxInflatedBytes}
	if cw.maxBytes <= 0 {
		cw.maxBytes = MaxInflatedBytes
	}
	fields = append([]Field(nil), fields...)
	plainMessage := -1
	for i := range fields {
		fl := &fields[i]
		path, key := fieldPath(*fl), "path"
		if fl.Path == "" {
			key = "name"
		}
		top, _, nested := strings.Cut(path, ".")
		known := false
		for _, p := range cloudWatchPaths {
			known = known || top == p
		}
		switch {
		case fl.Name == "": // New reports it
		case !known || (nested && top != "message"):
			errs = append(errs, &FieldError{Index: i, Key: key, Msg: fmt.Sprintf(
				"cloudwatch_logs has no field %q (its fields: %s, or message.<path> to read the message as JSON)", path, strings.Join(cloudWatchPaths, ", "))})
		case nested:
			cw.jsonMessage = true
		case path == "message":
			plainMessage = i
		case path == "timestamp" && fl.Type == Timestamp && fl.Format == "":
			fl.Format = "unix_ms" // what CloudWatch sends: milliseconds since the epoch
		}
	}
	if cw.jsonMessage && plainMessage >= 0 {
		errs = append(errs, &FieldError{Index: plainMessage, Key: "path",
			Msg: "with message.<path> fields the message is read as JSON; it cannot also be read as a whole"})
	}
	d, err := New(mem, fields)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	cw.envRoot = &node{slot: -1}
	envNodes := []*node{}
	for _, p := range []string{"messageType", "owner", "logGroup", "logStream", "logEvents"} {
		envNodes = append(envNodes, cw.envRoot.insert(p))
	}
	cw.env.slots = make([]slot, cw.envRoot.number(0))
	cw.env.nodes = cw.envRoot.all(nil)
	cw.messageType, cw.owner, cw.logGroup, cw.logStream, cw.logEvents =
		envNodes[0].slot, envNodes[1].slot, envNodes[2].slot, envNodes[3].slot, envNodes[4].slot
	cw.evRoot = &node{slot: -1}
	evNodes := []*node{cw.evRoot.insert("id"), cw.evRoot.insert("timestamp"), cw.evRoot.insert("message")}
	cw.ev.slots = make([]slot, cw.evRoot.number(0))
	cw.ev.nodes = cw.evRoot.all(nil)
	cw.evID, cw.evTime, cw.evMsg = evNodes[0].slot, evNodes[1].slot, evNodes[2].slot
	d.cw = cw
	return d, nil
}

// cloudWatchRecord appends the rows of one subscription record, or returns
// why the record as a whole is bad (the caller then undoes its rows and
// dead-letters it).
func (d *Decoder) cloudWatchRecord(data []byte, deadLetter func(string, []byte)) string {
	cw := d.cw
	if why := cw.inflate(data); why != "" {
		return reason(ReasonInvalidGzip, why)
	}
	env := cw.inflated
	valid, object := cw.env.scan(env, cw.envRoot)
	switch {
	case !valid:
		return reason(ReasonInvalidJSON, "cloudwatch_logs envelope: "+cw.env.syntaxError())
	case !object:
		return reason(ReasonInvalidEnvelope, "want a JSON object, got "+cw.env.topKind())
	}
	slots := cw.env.slots
	mt := &slots[cw.messageType]
	if mt.kind != kindString {
		return reason(ReasonInvalidEnvelope, "messageType: want a string, got "+mt.kind.jsonName())
	}
	typ := env[mt.start:mt.end]
	if mt.esc {
		cw.typeBuf, _ = unescape(cw.typeBuf[:0], typ)
		typ = cw.typeBuf
	}
	switch string(typ) {
	case "CONTROL_MESSAGE":
		d.skip(SkipControlMessage)
		return ""
	case "DATA_MESSAGE":
	default:
		return reason(ReasonInvalidEnvelope, "messageType: want DATA_MESSAGE or CONTROL_MESSAGE, got "+quoteLit(typ))
	}
	le := slots[cw.logEvents]
	if le.kind != kindArray {
		return reason(ReasonInvalidEnvelope, "logEvents: want an array, got "+le.kind.jsonName())
	}
	// The envelope is valid JSON, so the array's elements are too: only
	// their type is left to check.
	i := ws(env, le.start+1)
	for n := 0; env[i] != ']'; n++ {
		if env[i] != '{' {
			return reason(ReasonInvalidEnvelope, fmt.Sprintf("logEvents[%d]: want an object", n))
		}
		clear(cw.ev.slots)
		cw.ev.data, cw.ev.errMsg = env, ""
		end := cw.ev.object(i, cw.evRoot, 2)
		if why := d.logEvent(env); why != "" {
			deadLetter(why, cw.doc)
		}
		if i = ws(env, end); env[i] == ',' {
			i = ws(env, i+1)
		}
	}
	cw.ev.data = nil
	return ""
}

// logEvent builds the event's JSON object in cw.doc and decodes it as a row.
func (d *Decoder) logEvent(env []byte) string {
	cw := d.cw
	doc := append(cw.doc[:0], '{')
	add := func(key string, sl *slot) {
		if sl.kind == kindAbsent {
			return
		}
		if len(doc) > 1 {
			doc = append(doc, ',')
		}
		doc = append(doc, '"')
		doc = append(doc, key...)
		doc = append(doc, '"', ':')
		doc = append(doc, token(env, sl)...)
	}
	es, vs := cw.env.slots, cw.ev.slots
	add("owner", &es[cw.owner])
	add("logGroup", &es[cw.logGroup])
	add("logStream", &es[cw.logStream])
	add("id", &vs[cw.evID])
	add("timestamp", &vs[cw.evTime])
	if m := &vs[cw.evMsg]; cw.jsonMessage && m.kind == kindString {
		msg := env[m.start:m.end]
		if m.esc {
			cw.msgBuf, _ = unescape(cw.msgBuf[:0], msg)
			msg = cw.msgBuf
		}
		// The message must be exactly one JSON value: spliced into the
		// object unchecked, `1,"logGroup":"x"` would forge a field.
		cw.msg.data, cw.msg.errMsg = msg, ""
		j := ws(msg, 0)
		ok := j < len(msg)
		if ok {
			j = cw.msg.skipValue(j, 1)
			ok = j >= 0 && ws(msg, j) == len(msg)
		}
		if !ok {
			detail := "empty"
			if cw.msg.errMsg != "" {
				detail = cw.msg.syntaxError()
			}
			cw.msg.data = nil
			cw.doc = doc
			return reason(ReasonInvalidJSON, "message of log event "+eventID(env, &vs[cw.evID])+" is not JSON: "+detail)
		}
		cw.msg.data = nil
		if len(doc) > 1 {
			doc = append(doc, ',')
		}
		doc = append(doc, `"message":`...)
		doc = append(doc, msg...)
	} else {
		add("message", m)
	}
	doc = append(doc, '}')
	cw.doc = doc
	if why := d.decodeOne(doc); why != "" {
		return why + " (log event " + eventID(env, &vs[cw.evID]) + ")"
	}
	return ""
}

// token returns the JSON text of the value in slot sl of data.
func token(data []byte, sl *slot) []byte {
	if sl.kind == kindString {
		return data[sl.start-1 : sl.end+1] // with its quotes
	}
	return data[sl.start:sl.end]
}

func eventID(env []byte, sl *slot) string {
	if sl.kind == kindAbsent {
		return "without id"
	}
	return quoteLit(token(env, sl))
}

// inflate gunzips data into cw.inflated, at most cw.maxBytes.
func (cw *cloudWatch) inflate(data []byte) string {
	if len(data) < 2 || data[0] != 0x1f || data[1] != 0x8b {
		return "not gzip data (CloudWatch Logs subscriptions send gzip-compressed envelopes)"
	}
	cw.src.Reset(data)
	var err error
	if cw.gz == nil {
		cw.gz, err = gzip.NewReader(&cw.src)
	} else {
		err = cw.gz.Reset(&cw.src)
	}
	if err != nil {
		return "gzip header: " + err.Error()
	}
	// Keep about twice the latest envelope, not the largest one.
	buf := cw.inflated[:0]
	if cap(buf) > max(2*cw.lastLen, 1<<20) {
		buf = nil
	}
	for {
		if len(buf) > cw.maxBytes {
			cw.inflated = buf[:0]
			return fmt.Sprintf("inflates to more than %d bytes", cw.maxBytes)
		}
		if len(buf) == cap(buf) {
			buf = append(buf, make([]byte, min(max(32<<10, len(buf)), cw.maxBytes+1-len(buf)))...)[:len(buf)]
		}
		n, err := cw.gz.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			cw.inflated = buf[:0]
			return err.Error()
		}
	}
	if len(buf) > cw.maxBytes {
		cw.inflated = buf[:0]
		return fmt.Sprintf("inflates to more than %d bytes", cw.maxBytes)
	}
	cw.inflated, cw.lastLen = buf, len(buf)
	return ""
}
