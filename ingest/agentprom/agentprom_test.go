package agentprom

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shardflow/shardflow/ingest"
)

type fixed ingest.Snapshot

func (f fixed) Snapshot() ingest.Snapshot { return ingest.Snapshot(f) }

func TestCollector(t *testing.T) {
	var srcs []ingest.SourceSnapshot
	for i := range 105 {
		srcs = append(srcs, ingest.SourceSnapshot{Name: fmt.Sprintf("/var/log/f%03d", i), Lag: int64(i + 1)})
	}
	srcs = append(srcs, ingest.SourceSnapshot{Name: "/var/log/f104", Lag: 1000}) // a second generation of one path
	snap := ingest.Snapshot{CheckpointWrites: 7, Flows: []ingest.FlowSnapshot{{
		Name: "web", Destination: "kinesis:web", LinesRead: 10, RecordsPut: 9, Resent: 2,
		DeadLetters: map[string]int64{"convert_failed": 1}, Sources: srcs,
	}}}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(New(fixed(snap)))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			var labels []string
			for _, l := range m.Label {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			values[mf.GetName()+"{"+strings.Join(labels, ",")+"}"] = v
		}
	}
	for k, want := range map[string]float64{
		"shardflow_agent_records_put_total{destination=kinesis:web,flow=web}": 9,
		"shardflow_agent_retries_total{destination=kinesis:web,flow=web}":     2,
		"shardflow_agent_dead_letters_total{flow=web,reason=convert_failed}":  1,
		"shardflow_agent_lines_read_total{flow=web}":                          10,
		"shardflow_agent_checkpoint_writes_total{}":                           7,
		"shardflow_agent_checkpoint_failing{}":                                0,
	} {
		if got, ok := values[k]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, want)
		}
	}
	for _, mf := range mfs {
		if mf.GetName() != "shardflow_agent_lag_bytes" {
			continue
		}
		if n := len(mf.Metric); n != maxFileSeries+1 {
			t.Fatalf("%d lag series, want %d and other", n, maxFileSeries)
		}
		var other, top float64
		for _, m := range mf.Metric {
			for _, l := range m.Label {
				if l.GetName() == "file" && l.GetValue() == "other" {
					other = m.Gauge.GetValue()
				}
				if l.GetName() == "file" && l.GetValue() == "/var/log/f104" {
					top = m.Gauge.GetValue()
				}
			}
		}
		if top != 1105 || other != 1+2+3+4+5 {
			t.Fatalf("lag: f104 %v (want both generations, 1105), other %v (want the 5 smallest, 15)", top, other)
		}
		return
	}
	t.Fatal("no lag series")
}
