package workload

import (
	"encoding/hex"
	"math/rand/v2"
	"strconv"
	"time"
)

// Config shapes the generated events.
type Config struct {
	Seed uint64
	// Start is the event time of the first event.
	Start time.Time
	// Span is the event-time range covered by Total events (default 10m).
	Span  time.Duration
	Total int
	// LateFraction of events carry a ts up to MaxLateness in the past
	// (default 0.02 and 30s).
	LateFraction float64
	MaxLateness  time.Duration
	Users        int // default 50,000
}

// Generator produces events one at a time.
type Generator struct {
	cfg   Config
	rng   *rand.Rand
	n     int
	step  time.Duration
	pages []string
	agent []string
}

var countries = []string{"US", "DE", "GB", "FR", "IN", "BR", "JP", "CA", "AU", "ES",
	"IT", "NL", "SE", "PL", "MX", "KR", "SG", "ZA", "AR", "CH",
	"AT", "BE", "DK", "FI", "IE", "NO", "PT", "CZ", "HU", "RO",
	"TR", "IL", "AE", "SA", "EG", "NG", "KE", "TH", "VN", "ID"}

var agentStems = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15 shop",
	"Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0 (compatible; shardflow-workload/1.0; +local)",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 app",
}

// New returns a generator for cfg with defaults applied.
func New(cfg Config) *Generator {
	if cfg.Span <= 0 {
		cfg.Span = 10 * time.Minute
	}
	if cfg.Total <= 0 {
		cfg.Total = 1_000_000
	}
	if cfg.LateFraction == 0 {
		cfg.LateFraction = 0.02
	}
	if cfg.MaxLateness <= 0 {
		cfg.MaxLateness = 30 * time.Second
	}
	if cfg.Users <= 0 {
		cfg.Users = 50_000
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	}
	g := &Generator{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x5eed)), step: cfg.Span / time.Duration(cfg.Total)}
	for i := range 200 {
		g.pages = append(g.pages, "/products/"+strconv.Itoa(i))
	}
	g.agent = agentStems
	return g
}

// Event is one generated event in typed form.
type Event struct {
	EventID   [16]byte
	UserID    int
	Page      string
	Country   string
	TS        time.Time
	Price     float64
	UserAgent string
}

// Next returns the next event.
func (g *Generator) Next() Event {
	var e Event
	hi, lo := g.rng.Uint64(), g.rng.Uint64()
	for i := range 8 {
		e.EventID[i] = byte(hi >> (8 * i))
		e.EventID[8+i] = byte(lo >> (8 * i))
	}
	e.UserID = g.rng.IntN(g.cfg.Users)
	e.Page = g.pages[g.rng.IntN(len(g.pages))]
	e.Country = countries[g.rng.IntN(len(countries))]
	e.TS = g.cfg.Start.Add(time.Duration(g.n) * g.step)
	if g.rng.Float64() < g.cfg.LateFraction {
		e.TS = e.TS.Add(-time.Duration(g.rng.Int64N(int64(g.cfg.MaxLateness))))
	}
	if g.rng.IntN(10) >= 8 {
		e.Price = float64(g.rng.IntN(20000)) / 100
	}
	e.UserAgent = g.agent[g.rng.IntN(len(g.agent))]
	g.n++
	return e
}

// AppendJSON appends e as one JSON object (no trailing newline).
func (e *Event) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"event_id":"`...)
	dst = appendUUID(dst, e.EventID)
	dst = append(dst, `","user_id":"u-`...)
	dst = strconv.AppendInt(dst, int64(e.UserID), 10)
	dst = append(dst, `","page":"`...)
	dst = append(dst, e.Page...)
	dst = append(dst, `","country":"`...)
	dst = append(dst, e.Country...)
	dst = append(dst, `","ts":"`...)
	dst = e.TS.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
	dst = append(dst, `","price":`...)
	dst = strconv.AppendFloat(dst, e.Price, 'f', -1, 64)
	dst = append(dst, `,"user_agent":"`...)
	dst = append(dst, e.UserAgent...)
	dst = append(dst, `"}`...)
	return dst
}

// ID returns the event id in its textual (UUID) form.
func (e *Event) ID() string { return string(appendUUID(nil, e.EventID)) }

func appendUUID(dst []byte, id [16]byte) []byte {
	var buf [36]byte
	hex.Encode(buf[0:8], id[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], id[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], id[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], id[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:36], id[10:16])
	return append(dst, buf[:]...)
}
