package workload

import (
	"testing"
	"time"
)

// TestReferenceDistribution checks the properties issue #8 asks of the
// reference workload over its full 1,000,000 events (100,000 with -short):
// sizes, cardinalities, event-time span and the late fraction.
func TestReferenceDistribution(t *testing.T) {
	total := 1_000_000
	if testing.Short() {
		total = 100_000
	}
	cfg := Config{Seed: 1, Total: total}
	g := New(cfg)
	start := g.cfg.Start
	var (
		bytes, agentBytes, zeroPrice, late int
		maxLate                            time.Duration
		users                              = map[int]bool{}
		pages, countries                   = map[string]bool{}, map[string]bool{}
		maxTS                              time.Time
		buf                                []byte
	)
	for range total {
		e := g.Next()
		buf = e.AppendJSON(buf[:0])
		bytes += len(buf)
		agentBytes += len(e.UserAgent)
		users[e.UserID] = true
		pages[e.Page] = true
		countries[e.Country] = true
		if e.Price == 0 {
			zeroPrice++
		}
		if e.TS.Before(maxTS) {
			late++
			maxLate = max(maxLate, maxTS.Sub(e.TS))
		} else {
			maxTS = e.TS
		}
	}
	frac := func(n int) float64 { return float64(n) / float64(total) }
	t.Logf("%d events: avg %d bytes, user_agent avg %d chars, %d users, %d pages, %d countries, price 0: %.3f, late: %.4f (max %v), span %v",
		total, bytes/total, agentBytes/total, len(users), len(pages), len(countries), frac(zeroPrice), frac(late), maxLate, maxTS.Sub(start))
	if avg := bytes / total; avg < 280 || avg > 320 {
		t.Errorf("average event size %d bytes, want ~300", avg)
	}
	if avg := agentBytes / total; avg < 110 || avg > 130 {
		t.Errorf("average user_agent %d chars, want ~120", avg)
	}
	if wantUsers := 49_000; total == 1_000_000 && (len(users) < wantUsers || len(users) > 50_000) {
		t.Errorf("%d distinct users, want nearly all of 50,000", len(users))
	}
	if len(pages) != 200 || len(countries) != 40 {
		t.Errorf("%d pages and %d countries, want 200 and 40", len(pages), len(countries))
	}
	if f := frac(zeroPrice); f < 0.79 || f > 0.81 {
		t.Errorf("price 0 for %.3f of events, want 0.80", f)
	}
	if f := frac(late); f < 0.018 || f > 0.022 {
		t.Errorf("%.4f of events late (ts before an earlier event's), want ~0.02", f)
	}
	if maxLate > 30*time.Second {
		t.Errorf("an event is %v late, want at most 30s", maxLate)
	}
	if span := maxTS.Sub(start); span < 9*time.Minute+59*time.Second || span > 10*time.Minute {
		t.Errorf("event times span %v, want 10m", span)
	}
}
