package flow

import (
	"errors"
	"testing"
)

func TestJoinAcksFiresOnceWithFirstError(t *testing.T) {
	var calls int
	var got error
	a := JoinAcks(3, func(err error) { calls++; got = err })
	first := errors.New("first")
	a(nil)
	a(first)
	if calls != 0 {
		t.Fatalf("fired after 2 of 3 acks")
	}
	a(errors.New("second"))
	if calls != 1 || !errors.Is(got, first) {
		t.Fatalf("calls=%d err=%v, want 1 call with the first error", calls, got)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("4th call did not panic")
		}
	}()
	a(nil)
}
