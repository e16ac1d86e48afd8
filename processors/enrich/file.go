package enrich

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// A table file is CSV with a header row, or JSON: an array of objects, or
// an object whose members are the rows keyed by key. Every row becomes a
// map from field name to text: an empty CSV cell and a JSON null are
// absent; JSON strings are their contents, numbers and bools their
// literals, nested objects and arrays their JSON text.

// formatOf returns format, or the one the file's extension implies.
func formatOf(path, format string) (string, error) {
	if format == "" {
		switch strings.ToLower(filepath.Ext(path)) {
		case ".csv":
			format = "csv"
		case ".json":
			format = "json"
		}
	}
	switch format {
	case "csv", "json":
		return format, nil
	case "":
		return "", fmt.Errorf("%s: cannot tell the format from the extension; say csv or json", path)
	}
	return "", fmt.Errorf("unknown format %q (want csv, json)", format)
}

// readRows calls fn with each row of the file and where it is ("line 3",
// "element 2", `member "u-1"`). keyField names the field that receives the
// member name of an object keyed by key ("" when that form is not allowed);
// a row that has the field keeps its own value.
func readRows(path, format, keyField string, fn func(pos string, row map[string]string) error) error {
	format, err := formatOf(path, format)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<16)
	if format == "csv" {
		err = readCSV(r, fn)
	} else {
		err = readJSON(r, keyField, fn)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func readCSV(r io.Reader, fn func(string, map[string]string) error) error {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return errors.New("empty file: want a header row")
	}
	if err != nil {
		return err
	}
	header = append([]string(nil), header...)
	for i, h := range header {
		if h == "" {
			return fmt.Errorf("header column %d is empty", i+1)
		}
	}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		line, _ := cr.FieldPos(0)
		row := make(map[string]string, len(header))
		for i, v := range rec {
			if v != "" {
				row[header[i]] = v
			}
		}
		if err := fn(fmt.Sprintf("line %d", line), row); err != nil {
			return err
		}
	}
}

func readJSON(r io.Reader, keyField string, fn func(string, map[string]string) error) error {
	dec := json.NewDecoder(r)
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("want a JSON array or object: %w", err)
	}
	keyed := tok == json.Delim('{')
	if !keyed && tok != json.Delim('[') {
		return fmt.Errorf("want a JSON array or object, got %v", tok)
	}
	if keyed && keyField == "" {
		return errors.New("an object keyed by key needs a key template with exactly one placeholder")
	}
	for i := 0; dec.More(); i++ {
		pos := fmt.Sprintf("element %d", i)
		var member string
		if keyed {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			member = tok.(string) // object keys are always strings
			pos = fmt.Sprintf("member %q", member)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("%s: %w", pos, err)
		}
		row, err := jsonObject(raw)
		if err != nil {
			return fmt.Errorf("%s: %w", pos, err)
		}
		if _, ok := row[keyField]; keyed && !ok {
			row[keyField] = member
		}
		if err := fn(pos, row); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}
