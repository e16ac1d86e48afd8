package firehoselocal

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Table definitions stand in for the Glue Data Catalog: the schema of a
// SchemaConfiguration (DatabaseName, TableName) is read from
//
//	<Config.GlueTablesDir>/<DatabaseName>/<TableName>.json
//
// which holds the table as Glue's CreateTable takes it (a TableInput), of
// which the emulator reads:
//
//	{"Name": "events",
//	 "StorageDescriptor": {"Columns": [{"Name": "event_id", "Type": "string"},
//	                                   {"Name": "ts", "Type": "timestamp"}, ...]},
//	 "PartitionKeys": [{"Name": "dt", "Type": "string"}]}
//
// Columns are the Parquet columns, in order; partition keys are not written
// into the files (they live in the S3 prefix). The same file can feed
// `aws glue create-table --table-input file://...` and the Terraform module
// (deploy/terraform), so the local and the real table have one source.

// glueColumn is a column of a table definition.
type glueColumn struct {
	Name string
	Type string
}

type glueTable struct {
	Name              string
	StorageDescriptor struct {
		Columns []glueColumn
	}
	PartitionKeys []glueColumn
}

// hiveType is a glueCol type the converter writes.
type hiveType int

const (
	hiveString hiveType = iota + 1
	hiveTinyint
	hiveSmallint
	hiveInt
	hiveBigint
	hiveFloat
	hiveDouble
	hiveBoolean
	hiveTimestamp
	hiveDate
)

var charType = regexp.MustCompile(`^(varchar|char)\(\d+\)$`)

func parseHiveType(t string) (hiveType, error) {
	switch lt := strings.ToLower(strings.TrimSpace(t)); {
	case lt == "string" || charType.MatchString(lt):
		return hiveString, nil
	case lt == "tinyint":
		return hiveTinyint, nil
	case lt == "smallint":
		return hiveSmallint, nil
	case lt == "int" || lt == "integer":
		return hiveInt, nil
	case lt == "bigint":
		return hiveBigint, nil
	case lt == "float":
		return hiveFloat, nil
	case lt == "double":
		return hiveDouble, nil
	case lt == "boolean":
		return hiveBoolean, nil
	case lt == "timestamp":
		return hiveTimestamp, nil
	case lt == "date":
		return hiveDate, nil
	}
	return 0, unsupported(fmt.Sprintf("The Glue glueCol type %q (only string, varchar(n), char(n), tinyint, smallint, int, bigint, float, double, boolean, timestamp and date are converted)", t))
}

// glueCol is a resolved output column.
type glueCol struct {
	name string // lower case, as Glue stores it
	typ  hiveType
}

// loadTable reads the table definition for a SchemaConfiguration.
func loadTable(dir, database, table string) ([]glueCol, error) {
	if dir == "" {
		return nil, invalidArgument("DataFormatConversionConfiguration needs a table definition: start firehose-local with -glue-tables-dir " +
			"(Config.GlueTablesDir) holding <DatabaseName>/<TableName>.json")
	}
	path := filepath.Join(dir, database, table+".json")
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, invalidArgument("SchemaConfiguration: table %s.%s not found (no %s)", database, table, path)
	}
	if err != nil {
		return nil, invalidArgument("SchemaConfiguration: reading %s: %v", path, err)
	}
	var t glueTable
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, invalidArgument("SchemaConfiguration: %s is not a Glue TableInput: %v", path, err)
	}
	if len(t.StorageDescriptor.Columns) == 0 {
		return nil, invalidArgument("SchemaConfiguration: %s has no StorageDescriptor.Columns", path)
	}
	seen := map[string]bool{}
	cols := make([]glueCol, 0, len(t.StorageDescriptor.Columns))
	for _, c := range t.StorageDescriptor.Columns {
		name := strings.ToLower(c.Name)
		if name == "" || seen[name] {
			return nil, invalidArgument("SchemaConfiguration: %s: empty or repeated glueCol name %q", path, c.Name)
		}
		seen[name] = true
		typ, err := parseHiveType(c.Type)
		if err != nil {
			return nil, err
		}
		cols = append(cols, glueCol{name: name, typ: typ})
	}
	return cols, nil
}
