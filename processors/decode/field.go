package decode

// FieldType is the type of one declared column.
type FieldType string

// The column types a schema may declare.
const (
	String    FieldType = "string"
	Int64     FieldType = "int64"
	Float64   FieldType = "float64"
	Bool      FieldType = "bool"
	Timestamp FieldType = "timestamp"
)

// Field declares one column of a pipeline's schema and where its value is
// found in each JSON record.
type Field struct {
	// Name is the column name in Arrow batches and in every output.
	Name string `yaml:"name"`
	// Type is the column type.
	Type FieldType `yaml:"type"`
	// Path is a dotted path into the JSON object ("user.id"); empty means Name.
	Path string `yaml:"path,omitempty"`
	// Nullable allows the value to be missing or JSON null. A missing value
	// of a non-nullable field without Default sends the record to dead-letter.
	Nullable bool `yaml:"nullable,omitempty"`
	// Default, when set, is used (parsed as Type) when the value is missing or null.
	Default *string `yaml:"default,omitempty"`
	// Format applies to timestamps: "rfc3339" (default, also accepts
	// RFC 3339 with fractional seconds), "unix" (seconds, integer or
	// fractional), "unix_ms", or a Go time layout.
	Format string `yaml:"format,omitempty"`
}
