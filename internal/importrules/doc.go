// Package importrules states shardflow's dependency rules and checks them
// over the source tree (its test runs them on the whole module):
//
//   - processors/ knows nothing of consumer/, checkpoints/ or sinks/;
//   - sinks/ knows nothing of processors/ or the emulators
//     (internal/firehoselocal);
//   - KCL types (github.com/vmware/vmware-go-kcl-v2) stay in consumer/ and
//     checkpoints/.
//
// Only non-test files are held to the rules: a test may use an encoder to
// read what a processor wrote. It never changes the tree it checks.
package importrules
