// Package checkpoints is the home of the lease and checkpoint stores that
// implement the KCL's checkpoint.Checkpointer: dynamodb (the KCL's own, with
// its table created up front) and, in a later step, a fenced redis store.
// KCL types may appear here and in consumer/, nowhere else.
package checkpoints
