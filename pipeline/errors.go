package pipeline

import (
	"fmt"
	"sort"
	"strings"
)

// FieldError is one problem with a pipeline config, named by the path of
// the key it concerns ("transforms[1].derive.expr") and, when the config
// came from a file, where that key is. It is the only error type of config
// problems, whether found while reading the YAML or while planning.
type FieldError struct {
	// Path is the key's path; "" for the document as a whole.
	Path string
	// Line and Column (1-based) locate the key's value in the file; 0 when
	// unknown (a config built in code, or a key that is absent).
	Line, Column int
	// Msg says what is wrong and, where it can, how to fix it.
	Msg string
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// Problems is every problem found in one config, in file order. Its text
// has one line per problem, "file:line:column: path: message", as
// compilers print them (file and position left out when unknown).
type Problems struct {
	File string
	List []*FieldError
}

func (p *Problems) Error() string {
	var b strings.Builder
	for i, e := range p.List {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.Line(e))
	}
	return b.String()
}

// Line renders one problem as it appears in Error.
func (p *Problems) Line(e *FieldError) string {
	var pos string
	switch {
	case p.File != "" && e.Line > 0:
		pos = fmt.Sprintf("%s:%d:%d: ", p.File, e.Line, e.Column)
	case p.File != "":
		pos = p.File + ": "
	case e.Line > 0:
		pos = fmt.Sprintf("line %d:%d: ", e.Line, e.Column)
	}
	return pos + e.Error()
}

// Unwrap gives errors.As access to each *FieldError.
func (p *Problems) Unwrap() []error {
	out := make([]error, len(p.List))
	for i, e := range p.List {
		out[i] = e
	}
	return out
}

// problemList collects problems with their positions.
type problemList struct {
	meta *configMeta
	list []*FieldError
}

// add records a problem at path, located from the config's positions.
func (l *problemList) add(path, format string, args ...any) *FieldError {
	e := &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)}
	if l.meta != nil {
		e.Line, e.Column = l.meta.locate(path)
	}
	l.list = append(l.list, e)
	return e
}

// err returns the problems in file order (those without a position last,
// in the order found), or nil.
func (l *problemList) err(file string) error {
	if len(l.list) == 0 {
		return nil
	}
	list := append([]*FieldError(nil), l.list...)
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if (a.Line == 0) != (b.Line == 0) {
			return b.Line == 0
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	return &Problems{File: file, List: list}
}

// within reports whether path is p itself or under it ("a.b" and "a.b[0]"
// are under "a.b"; "a.bc" is not).
func within(path, p string) bool {
	if p == "" || path == p {
		return true
	}
	return strings.HasPrefix(path, p) && (path[len(p)] == '.' || path[len(p)] == '[')
}
