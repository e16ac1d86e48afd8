package firehose

import (
	"time"
)

// packer is the state owned by the packer goroutine.
type packer struct {
	o        *Output
	cur      *request
	nextID   uint64
	lastCall uint64 // the previous write's last call: acks stay in order
	timer    *time.Timer
	timerC   <-chan time.Time
	lastRows int // rows in the current request's last record
}

// pack owns the request under construction. It appends each write's lines to
// the current record, starts a new record when a line does not fit, and hands
// the request to a sender when it is full (records or bytes) or has lingered.
func (o *Output) pack() {
	defer o.packerWG.Done()
	defer close(o.requests)
	p := &packer{o: o, nextID: 1}
	p.newRequest()
	for {
		select {
		case pw, ok := <-o.writes:
			if !ok {
				p.dispatch()
				return
			}
			p.add(pw)
		case <-p.timerC:
			p.timerC = nil
			p.dispatch()
		}
	}
}

func (p *packer) newRequest() {
	p.cur = &request{id: p.nextID}
	p.nextID++
}

func (p *packer) add(pw *pendingWrite) {
	start := int32(0)
	for _, end := range pw.ends {
		p.appendLine(pw.lines[start:end])
		start = end
	}
	p.o.stats.rows.Add(int64(len(pw.ends)))
	p.o.stats.rowBytes.Add(int64(len(pw.lines)))
	// The write is durable once the call holding its last line is: the
	// current request if it holds anything, else the last one dispatched.
	call := p.cur.id
	if len(p.cur.records) == 0 {
		call = p.cur.id - 1
	}
	p.lastCall = max(p.lastCall, call)
	p.o.enqueueAck(p.lastCall, pw.ack)
	if len(p.cur.records) == 0 || p.timerC != nil {
		return
	}
	if p.o.opts.Linger <= 0 {
		p.dispatch()
		return
	}
	p.timer = time.NewTimer(p.o.opts.Linger)
	p.timerC = p.timer.C
}

// appendLine adds one line to the current request, opening a new record, or
// dispatching the request first, when a limit would be passed.
func (p *packer) appendLine(line []byte) {
	if p.cur.bytes+len(line) > MaxBytesPerCall {
		p.dispatch()
	}
	req := p.cur
	if n := len(req.records); n > 0 && len(req.records[n-1])+len(line) <= MaxRecordBytes &&
		(p.o.opts.MaxRowsPerRecord <= 0 || p.lastRows < p.o.opts.MaxRowsPerRecord) {
		req.records[n-1] = append(req.records[n-1], line...)
		req.bytes += len(line)
		p.lastRows++
		return
	}
	if len(req.records) == MaxRecordsPerCall {
		p.dispatch()
		req = p.cur
	}
	rec := make([]byte, 0, min(MaxRecordBytes, max(64*1024, 2*len(line))))
	req.records = append(req.records, append(rec, line...))
	req.bytes += len(line)
	p.lastRows = 1
}

// dispatch hands the current request to a sender (blocking while all
// MaxInFlight senders are busy) and starts a new one.
func (p *packer) dispatch() {
	if p.timerC != nil {
		p.timer.Stop()
		p.timerC = nil
	}
	if len(p.cur.records) == 0 {
		return
	}
	p.o.requests <- p.cur
	p.newRequest()
}
