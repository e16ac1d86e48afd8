// Package examples holds the example pipelines (*.yaml) and, in
// examples_test.go, a test per example that runs it on the local stack and
// checks what arrives. There is no Go code to import here.
//
// A test reads the example file as a user would (its ${VAR}s resolved to
// the local stack's endpoints) and changes only what makes it the test's
// own and quick: unique stream, delivery stream, key and prefix names, and
// shorter lease and idle times. Window sizes, formats, transforms and
// outputs are the example's. A test here must never rewrite an example into
// something else to make it pass: what a user copies is what is tested.
package examples
