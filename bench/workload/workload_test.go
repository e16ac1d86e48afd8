package workload

import (
	"encoding/json"
	"testing"
)

func TestEventsAreValidJSONAndDeterministic(t *testing.T) {
	a, b := New(Config{Seed: 7, Total: 1000}), New(Config{Seed: 7, Total: 1000})
	var size int
	late := 0
	var prev Event
	ids := map[string]bool{}
	for i := range 1000 {
		ea, eb := a.Next(), b.Next()
		ja, jb := ea.AppendJSON(nil), eb.AppendJSON(nil)
		if string(ja) != string(jb) {
			t.Fatalf("event %d differs between generators with the same seed", i)
		}
		var m map[string]any
		if err := json.Unmarshal(ja, &m); err != nil {
			t.Fatalf("event %d is not JSON: %v\n%s", i, err, ja)
		}
		for _, k := range []string{"event_id", "user_id", "page", "country", "ts", "price", "user_agent"} {
			if _, ok := m[k]; !ok {
				t.Fatalf("event %d lacks %s", i, k)
			}
		}
		if m["event_id"] != ea.ID() {
			t.Fatalf("event_id %v != ID() %s", m["event_id"], ea.ID())
		}
		ids[ea.ID()] = true
		size += len(ja)
		if i > 0 && ea.TS.Before(prev.TS) {
			late++
		}
		prev = ea
	}
	if len(ids) != 1000 {
		t.Fatalf("%d distinct ids in 1000 events", len(ids))
	}
	if avg := size / 1000; avg < 250 || avg > 350 {
		t.Fatalf("average event size %d bytes, want ~300", avg)
	}
	if late == 0 || late > 100 {
		t.Fatalf("%d out-of-order events in 1000, want around 2%%", late)
	}
}
