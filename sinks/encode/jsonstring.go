package encode

import "github.com/shardflow/shardflow/rowjson"

// appendString writes s as a JSON string, escaped as every JSON shardflow
// writes (see rowjson.AppendString).
func appendString(dst []byte, s string) []byte { return rowjson.AppendString(dst, s) }

// AppendJSONString appends s as a JSON string literal (rowjson.AppendString).
func AppendJSONString(dst []byte, s string) []byte { return rowjson.AppendString(dst, s) }
