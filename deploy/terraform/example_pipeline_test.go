package tfcheck

import (
	"os"
	"regexp"
	"testing"

	"github.com/shardflow/shardflow/metrics/emf"
	"github.com/shardflow/shardflow/pipeline"
)

// TestExamplePipelineSendsEMF: the example's pipeline file is valid with the
// variables the module sets, turns CloudWatch EMF on in the namespace the
// alarms watch, and every shardflow metric an alarm names is one EMF
// writes — an alarm on a misspelt metric would never fire.
func TestExamplePipelineSendsEMF(t *testing.T) {
	raw, err := os.ReadFile("examples/clickstream/pipeline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"AWS_REGION": "eu-west-1", "SHARDFLOW_KINESIS_STREAM": "s", "SHARDFLOW_REDIS_ADDR": "h:6379",
		"REDIS_AUTH_TOKEN": "x", "SHARDFLOW_ENRICH_PREFIX": "enrich:"}
	cfg, err := pipeline.Parse(raw, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Ops.EMF == nil || cfg.Ops.EMF.Namespace != "Shardflow/clickstream" {
		t.Fatalf("ops.emf = %+v: want EMF on, namespace Shardflow/clickstream (alarms.tf)", cfg.Ops.EMF)
	}
	alarms, err := os.ReadFile("examples/clickstream/alarms.tf")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`metrics_namespace\s*=\s*"Shardflow/\$\{local.name\}"`).Match(alarms) {
		t.Error("alarms.tf does not watch Shardflow/${local.name}")
	}
	known := map[string]bool{"GetRecords.IteratorAgeMilliseconds": true, "DatabaseMemoryUsagePercentage": true}
	for _, n := range emf.MetricNames() {
		known[n] = true
	}
	names := regexp.MustCompile(`metric_name\s*=\s*"([^"]+)"`).FindAllStringSubmatch(string(alarms), -1)
	if len(names) < 5 {
		t.Fatalf("alarms.tf names %d metrics, want the five alarms'", len(names))
	}
	for _, m := range names {
		if !known[m[1]] {
			t.Errorf("alarms.tf alarms on %s, which neither shardflow's EMF nor the AWS metrics it expects provide", m[1])
		}
	}
}
