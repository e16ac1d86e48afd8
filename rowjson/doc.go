// Package rowjson renders Arrow rows as JSON, one way for every part that
// writes JSON: the string escaping of the NDJSON encoder (sinks/encode),
// and the raw row of every dead letter made from a decoded row (transforms
// and window operators, processors/...).
//
// It is a leaf: it imports only arrow-go, so that processors and sinks can
// both use it without importing each other. It never buffers, allocates
// beyond the buffer it appends to, or decides what a row means.
package rowjson
