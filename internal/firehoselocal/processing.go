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
// checkProcessing: it reports whether records get a newline appended. Only
// AppendDelimiterToRecord is emulated; any other processor type is refused
// by name. A configuration with Enabled absent or false processes nothing,
// but its processors are still validated, as they would be on enabling it.
func buildProcessing(c *processingConfiguration) (appendNewline bool, err error) {
	if c == nil {
		return false, nil
	}
	var others []string
	for _, p := range c.Processors {
		if *p.Type != "AppendDelimiterToRecord" {
			if !slices.Contains(others, *p.Type) {
				others = append(others, *p.Type)
			}
			continue
		}
		for _, param := range p.Parameters {
			name, value := *param.ParameterName, *param.ParameterValue
			switch {
			case name == "Delimiter" && (value == `\n` || value == "\n"):
			case name == "Delimiter":
				return false, unsupported(fmt.Sprintf("The AppendDelimiterToRecord Delimiter %q (only a newline)", value))
			default:
				return false, invalidArgument("Processor parameter %s is not valid for processor type AppendDelimiterToRecord", name)
			}
		}
	}
	if len(others) > 0 {
		return false, invalidArgument("Processor type(s) %s are not supported by firehose-local; only AppendDelimiterToRecord is", strings.Join(others, ", "))
	}
	return c.Enabled != nil && *c.Enabled && len(c.Processors) > 0, nil
}
