// Package flow holds the vocabulary every stage of a pipeline shares: the
// source records a consumer hands over, the Arrow batches with their
// provenance that transforms and outputs pass along, dead-letter entries, and
// the Output/Ack seam through which durability flows back to the checkpoint.
//
// It owns no goroutines and no I/O. It must never import the KCL, go-redis or
// an AWS client: those stay at the edges (consumer/, checkpoints/, sinks/).
package flow
