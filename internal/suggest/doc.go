// Package suggest finds the name a user probably meant: the "did you mean"
// of config and expression errors (an unknown key, column or name).
//
// It owns only string distance over the candidates it is given; it never
// decides whether a name is wrong, and never suggests a name that is not
// among the candidates.
package suggest
