package firehoselocal

import (
	"fmt"
	"slices"
	"strings"
)

// Processor types and parameter names of the API model.
var (
	processorTypes = []string{"RecordDeAggregation", "Decompression", "CloudWatchLogProcessing",
		"Lambda", "MetadataExtraction", "AppendDelimiterToRecord"}
	processorParameterNames = []string{"LambdaArn", "NumberOfRetries", "MetadataExtractionQuery",
		"JsonParsingEngine", "RoleArn", "BufferSizeInMBs", "BufferIntervalInSeconds", "SubRecordType",
		"Delimiter", "CompressionFormat", "DataMessageExtraction"}
)

// checkProcessing records model constraint violations of a
// ProcessingConfiguration found at path.
func checkProcessing(v *violations, path string, c *processingConfiguration) {
	if c == nil {
		return
	}
	for i, p := range c.Processors {
		at := fmt.Sprintf("%s.processors.%d.member", path, i+1)
		switch {
		case p.Type == nil:
			v.null(at + ".type")
		case !slices.Contains(processorTypes, *p.Type):
			v.add(quoted(*p.Type), at+".type", "Member must satisfy enum value set: ["+strings.Join(processorTypes, ", ")+"]")
		}
		for j, param := range p.Parameters {
			pat := fmt.Sprintf("%s.parameters.%d.member", at, j+1)
			switch {
			case param.ParameterName == nil:
				v.null(pat + ".parameterName")
			case !slices.Contains(processorParameterNames, *param.ParameterName):
				v.add(quoted(*param.ParameterName), pat+".parameterName", "Member must satisfy enum value set: ["+strings.Join(processorParameterNames, ", ")+"]")
			}
			switch {
			case param.ParameterValue == nil:
				v.null(pat + ".parameterValue")
			case len(*param.ParameterValue) < 1 || strings.TrimSpace(*param.ParameterValue) == "":
				v.add(quoted(*param.ParameterValue), pat+".parameterValue", `Member must satisfy regular expression pattern: ^(?!\s*$).+`)
			case len(*param.ParameterValue) > 5120:
				v.add(quoted(*param.ParameterValue), pat+".parameterValue", "Member must have length less than or equal to 5120")
			}
		}
	}
}

// buildProcessing applies a ProcessingConfiguration that passed
// checkProcessing. AppendDelimiterToRecord is emulated always;
// RecordDeAggregation and MetadataExtraction only with dynamic partitioning
// (the service accepts them only there); any other processor type is
// refused by name. A configuration with Enabled absent or false processes
// nothing, but its processors are still validated, as they would be on
// enabling it.
func buildProcessing(c *processingConfiguration, dynamic bool) (*processing, error) {
	p := &processing{}
	if c == nil {
		return p, nil
	}
	var others []string
	for _, proc := range c.Processors {
		switch t := *proc.Type; {
		case t == "AppendDelimiterToRecord":
			for _, param := range proc.Parameters {
				name, value := *param.ParameterName, *param.ParameterValue
				switch {
				case name == "Delimiter" && (value == `\n` || value == "\n"):
				case name == "Delimiter":
					return nil, unsupported(fmt.Sprintf("The AppendDelimiterToRecord Delimiter %q (only a newline)", value))
				default:
					return nil, invalidArgument("Processor parameter %s is not valid for processor type AppendDelimiterToRecord", name)
				}
			}
			p.appendNewline = true
		case (t == "RecordDeAggregation" || t == "MetadataExtraction") && !dynamic:
			return nil, invalidArgument("Processor type %s requires DynamicPartitioningConfiguration to be enabled", t)
		case t == "RecordDeAggregation":
			typ, delim, err := buildDeaggregation(proc.Parameters)
			if err != nil {
				return nil, err
			}
			p.deaggregate, p.delimiter = typ, delim
		case t == "MetadataExtraction":
			code, text, err := buildExtraction(proc.Parameters)
			if err != nil {
				return nil, err
			}
			p.query, p.queryText = code, text
		default:
			if !slices.Contains(others, t) {
				others = append(others, t)
			}
		}
	}
	if len(others) > 0 {
		return nil, invalidArgument("Processor type(s) %s are not supported by firehose-local; only AppendDelimiterToRecord, and with dynamic partitioning RecordDeAggregation and MetadataExtraction, are", strings.Join(others, ", "))
	}
	if c.Enabled == nil || !*c.Enabled {
		return &processing{}, nil
	}
	return p, nil
}
