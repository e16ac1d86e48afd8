package firehoselocal

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/itchyny/gojq"
)

// Dynamic partitioning (DynamicPartitioningConfiguration): partition keys
// from a MetadataExtraction jq query, records split first by
// RecordDeAggregation. See the package documentation.

const (
	defaultActivePartitionLimit = 500
	maxSubRecords               = 500 // per record, as the service caps deaggregation
	partitioningErrorType       = "partitioning-failed"
	activePartitionErrorType    = "activePartitionExceeded"
	extractionFailedCode        = "DynamicPartitioning.MetadataExtractionFailed"
	activePartitionCode         = "DynamicPartitioning.ActivePartitionExceeded"
)

// processing is a validated ProcessingConfiguration.
type processing struct {
	appendNewline bool
	// RecordDeAggregation: "JSON" or "DELIMITED" (with delimiter), "" off.
	deaggregate string
	delimiter   []byte
	// MetadataExtraction: the compiled jq query.
	query     *gojq.Code
	queryText string
}

// deaggregateRecord splits a record as RecordDeAggregation does: JSON into
// its consecutive JSON objects (concatenated or newline-separated), as raw
// bytes; DELIMITED at each delimiter.
func (p *processing) deaggregateRecord(data []byte) ([][]byte, error) {
	var out [][]byte
	switch p.deaggregate {
	case "":
		return [][]byte{data}, nil
	case "DELIMITED":
		for _, part := range bytes.Split(data, p.delimiter) {
			if len(part) > 0 {
				out = append(out, part)
			}
		}
	default:
		dec := json.NewDecoder(bytes.NewReader(data))
		start := int64(0)
		for {
			var raw json.RawMessage
			err := dec.Decode(&raw)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("record deaggregation (JSON): %v", err)
			}
			if len(raw) == 0 || raw[0] != '{' {
				return nil, errors.New("record deaggregation (JSON): the record holds something other than JSON objects (an array is not valid input)")
			}
			end := dec.InputOffset()
			out = append(out, bytes.TrimSpace(data[start:end]))
			start = end
		}
	}
	if len(out) > maxSubRecords {
		return nil, fmt.Errorf("record deaggregation: %d sub-records, more than %d", len(out), maxSubRecords)
	}
	if len(out) == 0 {
		return nil, errors.New("record deaggregation: no record found")
	}
	return out, nil
}

// partitionKeys runs the MetadataExtraction query on one record: it must
// yield a JSON object; each key named by the prefix must be a string,
// number or boolean (rendered as jq prints it). Values of other keys are
// ignored.
func (p *processing) partitionKeys(data []byte, names []string) (map[string]string, error) {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("the record is not JSON: %v", err)
	}
	iter := p.query.Run(v)
	out, ok := iter.Next()
	if !ok {
		return nil, errors.New("the metadata extraction query yielded nothing")
	}
	if err, isErr := out.(error); isErr {
		return nil, fmt.Errorf("the metadata extraction query failed: %v", err)
	}
	obj, isObj := out.(map[string]any)
	if !isObj {
		return nil, fmt.Errorf("the metadata extraction query yielded %T, not an object", out)
	}
	keys := make(map[string]string, len(names))
	for _, name := range names {
		val, present := obj[name]
		switch x := val.(type) {
		case string:
			keys[name] = x
		case bool:
			keys[name] = strconv.FormatBool(x)
		case int:
			keys[name] = strconv.Itoa(x)
		case float64:
			if x == math.Trunc(x) && math.Abs(x) < 1e17 {
				keys[name] = strconv.FormatFloat(x, 'f', -1, 64)
			} else {
				keys[name] = strconv.FormatFloat(x, 'g', 17, 64)
			}
		default:
			if !present || val == nil {
				return nil, fmt.Errorf("partition key %q is missing or null", name)
			}
			return nil, fmt.Errorf("partition key %q is a %T, not a scalar", name, val)
		}
		if keys[name] == "" {
			return nil, fmt.Errorf("partition key %q is empty", name)
		}
	}
	return keys, nil
}

// buildDeaggregation reads a RecordDeAggregation processor's parameters.
func buildDeaggregation(params []processorParameter) (string, []byte, error) {
	typ, delim := "", ""
	for _, param := range params {
		switch *param.ParameterName {
		case "SubRecordType":
			typ = *param.ParameterValue
		case "Delimiter":
			delim = *param.ParameterValue
		default:
			return "", nil, invalidArgument("Processor parameter %s is not valid for processor type RecordDeAggregation", *param.ParameterName)
		}
	}
	switch typ {
	case "JSON":
		if delim != "" {
			return "", nil, invalidArgument("RecordDeAggregation: Delimiter is only valid with SubRecordType DELIMITED")
		}
		return typ, nil, nil
	case "DELIMITED":
		d, err := base64.StdEncoding.DecodeString(delim)
		if err != nil || len(d) == 0 {
			return "", nil, invalidArgument("RecordDeAggregation: Delimiter must be a base64-encoded string for SubRecordType DELIMITED, got %q", delim)
		}
		return typ, d, nil
	}
	return "", nil, invalidArgument("RecordDeAggregation: SubRecordType must be JSON or DELIMITED, got %q", typ)
}

// buildExtraction compiles a MetadataExtraction processor's query.
func buildExtraction(params []processorParameter) (*gojq.Code, string, error) {
	query, engine := "", ""
	for _, param := range params {
		switch *param.ParameterName {
		case "MetadataExtractionQuery":
			query = *param.ParameterValue
		case "JsonParsingEngine":
			engine = *param.ParameterValue
		default:
			return nil, "", invalidArgument("Processor parameter %s is not valid for processor type MetadataExtraction", *param.ParameterName)
		}
	}
	if engine != "JQ-1.6" {
		return nil, "", invalidArgument("MetadataExtraction: JsonParsingEngine must be JQ-1.6, got %q", engine)
	}
	if query == "" {
		return nil, "", invalidArgument("MetadataExtraction: MetadataExtractionQuery is required")
	}
	parsed, err := gojq.Parse(query)
	if err != nil {
		return nil, "", invalidArgument("MetadataExtraction: MetadataExtractionQuery %q is not a valid jq query: %v", query, err)
	}
	code, err := gojq.Compile(parsed)
	if err != nil {
		return nil, "", invalidArgument("MetadataExtraction: MetadataExtractionQuery %q: %v", query, err)
	}
	return code, query, nil
}

// partitioningFailure is the JSON document written under the error prefix
// for a record that could not be partitioned.
type partitioningFailure struct {
	AttemptsMade           int    `json:"attemptsMade"`
	ArrivalTimestamp       int64  `json:"arrivalTimestamp"`
	ErrorCode              string `json:"errorCode"`
	ErrorMessage           string `json:"errorMessage"`
	AttemptEndingTimestamp int64  `json:"attemptEndingTimestamp"`
	RawData                []byte `json:"rawData"`
}

// prefixKeyNames lists the partitionKeyFromQuery names a prefix uses.
func prefixKeyNames(p *prefixTemplate) []string {
	var names []string
	for _, s := range p.segments {
		if s.kind == segPartitionKey && !containsString(names, s.literal) {
			names = append(names, s.literal)
		}
	}
	return names
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
