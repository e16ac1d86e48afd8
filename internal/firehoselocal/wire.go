package firehoselocal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Wire shapes of the Firehose API (member names as in the model). Only what
// firehose-local reads or answers is declared; pointers distinguish "absent"
// from zero where the model's defaults or required-ness depend on it.

type bufferingHints struct {
	SizeInMBs         *int32 `json:",omitempty"`
	IntervalInSeconds *int32 `json:",omitempty"`
}

type cloudWatchLoggingOptions struct {
	Enabled       bool
	LogGroupName  string `json:",omitempty"`
	LogStreamName string `json:",omitempty"`
}

type encryptionConfiguration struct {
	NoEncryptionConfig  string          `json:",omitempty"`
	KMSEncryptionConfig json.RawMessage `json:",omitempty"`
}

type processorParameter struct {
	ParameterName  *string
	ParameterValue *string
}

type processor struct {
	Type       *string
	Parameters []processorParameter `json:",omitempty"`
}

// processingConfiguration is read from requests and echoed in descriptions.
type processingConfiguration struct {
	Enabled    *bool
	Processors []processor `json:",omitempty"`
}

// s3DestinationConfiguration covers both S3DestinationConfiguration and
// ExtendedS3DestinationConfiguration; the extended-only members are ignored
// for the plain kind, as the service ignores members a shape does not have.
type s3DestinationConfiguration struct {
	RoleARN                  *string
	BucketARN                *string
	Prefix                   *string
	ErrorOutputPrefix        *string
	BufferingHints           *bufferingHints
	CompressionFormat        *string
	EncryptionConfiguration  *encryptionConfiguration
	CloudWatchLoggingOptions *cloudWatchLoggingOptions

	// Extended only.
	ProcessingConfiguration           *processingConfiguration
	DataFormatConversionConfiguration *dataFormatConversionConfiguration
	DynamicPartitioningConfiguration  *dynamicPartitioningConfiguration
	S3BackupMode                      *string
	S3BackupConfiguration             json.RawMessage
	FileExtension                     *string
	CustomTimeZone                    *string
}

// dataFormatConversionConfiguration is read from requests and echoed in
// descriptions.
type dataFormatConversionConfiguration struct {
	Enabled                   *bool                      `json:",omitempty"`
	SchemaConfiguration       *schemaConfiguration       `json:",omitempty"`
	InputFormatConfiguration  *inputFormatConfiguration  `json:",omitempty"`
	OutputFormatConfiguration *outputFormatConfiguration `json:",omitempty"`
}

type schemaConfiguration struct {
	RoleARN      *string `json:",omitempty"`
	CatalogId    *string `json:",omitempty"`
	DatabaseName *string `json:",omitempty"`
	TableName    *string `json:",omitempty"`
	Region       *string `json:",omitempty"`
	VersionId    *string `json:",omitempty"`
}

type inputFormatConfiguration struct {
	Deserializer *deserializer `json:",omitempty"`
}

type deserializer struct {
	OpenXJsonSerDe *openXJSONSerDe `json:",omitempty"`
	HiveJsonSerDe  *hiveJSONSerDe  `json:",omitempty"`
}

type openXJSONSerDe struct {
	ConvertDotsInJsonKeysToUnderscores *bool             `json:",omitempty"`
	CaseInsensitive                    *bool             `json:",omitempty"`
	ColumnToJsonKeyMappings            map[string]string `json:",omitempty"`
}

type hiveJSONSerDe struct {
	TimestampFormats []string `json:",omitempty"`
}

type outputFormatConfiguration struct {
	Serializer *serializer `json:",omitempty"`
}

type serializer struct {
	ParquetSerDe *parquetSerDe  `json:",omitempty"`
	OrcSerDe     map[string]any `json:",omitempty"`
}

type parquetSerDe struct {
	BlockSizeBytes              *int32  `json:",omitempty"`
	PageSizeBytes               *int32  `json:",omitempty"`
	Compression                 *string `json:",omitempty"`
	EnableDictionaryCompression *bool   `json:",omitempty"`
	MaxPaddingBytes             *int32  `json:",omitempty"`
	WriterVersion               *string `json:",omitempty"`
}

// dynamicPartitioningConfiguration is read from requests and echoed.
type dynamicPartitioningConfiguration struct {
	Enabled      *bool                  `json:",omitempty"`
	RetryOptions *partitionRetryOptions `json:",omitempty"`
}

type partitionRetryOptions struct {
	DurationInSeconds *int32 `json:",omitempty"`
}

type copyCommand struct {
	DataTableName    *string
	DataTableColumns *string
	CopyOptions      *string
}

type redshiftRetryOptions struct {
	DurationInSeconds *int32
}

type secretsManagerConfiguration struct {
	Enabled   *bool
	SecretARN *string
	RoleARN   *string
}

type redshiftDestinationConfiguration struct {
	RoleARN                     *string
	ClusterJDBCURL              *string
	CopyCommand                 *copyCommand
	Username                    *string
	Password                    *string
	RetryOptions                *redshiftRetryOptions
	S3Configuration             *s3DestinationConfiguration
	ProcessingConfiguration     *processingConfiguration
	S3BackupMode                *string
	S3BackupConfiguration       *s3DestinationConfiguration
	CloudWatchLoggingOptions    *cloudWatchLoggingOptions
	SecretsManagerConfiguration *secretsManagerConfiguration
}

type createDeliveryStreamInput struct {
	DeliveryStreamName                 *string
	DeliveryStreamType                 *string
	S3DestinationConfiguration         *s3DestinationConfiguration
	ExtendedS3DestinationConfiguration *s3DestinationConfiguration
	RedshiftDestinationConfiguration   *redshiftDestinationConfiguration
}

type createDeliveryStreamOutput struct {
	DeliveryStreamARN string
}

type describeDeliveryStreamInput struct {
	DeliveryStreamName *string
}

type describeDeliveryStreamOutput struct {
	DeliveryStreamDescription deliveryStreamDescription
}

type deliveryStreamDescription struct {
	DeliveryStreamName                    string
	DeliveryStreamARN                     string
	DeliveryStreamStatus                  string
	DeliveryStreamType                    string
	VersionId                             string
	CreateTimestamp                       epochSeconds
	DeliveryStreamEncryptionConfiguration encryptionStatus
	Destinations                          []destinationDescription
	HasMoreDestinations                   bool
}

type encryptionStatus struct {
	Status string
}

type destinationDescription struct {
	DestinationId                    string
	S3DestinationDescription         *s3DestinationDescription         `json:",omitempty"`
	ExtendedS3DestinationDescription *extendedS3DestinationDescription `json:",omitempty"`
	RedshiftDestinationDescription   *redshiftDestinationDescription   `json:",omitempty"`
}

type s3DestinationDescription struct {
	RoleARN                  string
	BucketARN                string
	Prefix                   string
	ErrorOutputPrefix        string `json:",omitempty"`
	BufferingHints           bufferingHints
	CompressionFormat        string
	EncryptionConfiguration  encryptionConfiguration
	CloudWatchLoggingOptions cloudWatchLoggingOptions
}

type extendedS3DestinationDescription struct {
	s3DestinationDescription
	ProcessingConfiguration           *processingConfiguration `json:",omitempty"`
	S3BackupMode                      string
	FileExtension                     string                             `json:",omitempty"`
	DataFormatConversionConfiguration *dataFormatConversionConfiguration `json:",omitempty"`
	DynamicPartitioningConfiguration  *dynamicPartitioningConfiguration  `json:",omitempty"`
}

type copyCommandDescription struct {
	DataTableName    string
	DataTableColumns string `json:",omitempty"`
	CopyOptions      string `json:",omitempty"`
}

type retryOptionsDescription struct {
	DurationInSeconds int32
}

// redshiftDestinationDescription never carries the password, as the
// service's does not.
type redshiftDestinationDescription struct {
	RoleARN                  string
	ClusterJDBCURL           string
	CopyCommand              copyCommandDescription
	Username                 string
	RetryOptions             retryOptionsDescription
	S3DestinationDescription s3DestinationDescription
	ProcessingConfiguration  *processingConfiguration `json:",omitempty"`
	S3BackupMode             string
	S3BackupDescription      *s3DestinationDescription `json:",omitempty"`
	CloudWatchLoggingOptions cloudWatchLoggingOptions
}

type listDeliveryStreamsInput struct {
	Limit                            *int32
	DeliveryStreamType               *string
	ExclusiveStartDeliveryStreamName *string
}

type listDeliveryStreamsOutput struct {
	DeliveryStreamNames    []string
	HasMoreDeliveryStreams bool
}

type deleteDeliveryStreamInput struct {
	DeliveryStreamName *string
	AllowForceDelete   *bool
}

type record struct {
	Data *[]byte // base64 on the wire; encoding/json decodes it
}

type putRecordInput struct {
	DeliveryStreamName *string
	Record             *record
}

type putRecordOutput struct {
	RecordId  string
	Encrypted bool
}

type putRecordBatchInput struct {
	DeliveryStreamName *string
	Records            *[]record
}

type putRecordBatchResponseEntry struct {
	RecordId     string `json:",omitempty"`
	ErrorCode    string `json:",omitempty"`
	ErrorMessage string `json:",omitempty"`
}

type putRecordBatchOutput struct {
	FailedPutCount   int
	Encrypted        bool
	RequestResponses []putRecordBatchResponseEntry
}

// epochSeconds is how AWS JSON 1.1 carries timestamps: fractional seconds
// since the Unix epoch as a JSON number.
type epochSeconds time.Time

func (t epochSeconds) MarshalJSON() ([]byte, error) {
	ms := time.Time(t).UnixMilli()
	return []byte(strconv.FormatFloat(float64(ms)/1000, 'f', 3, 64)), nil
}

// decodeInput parses a request body. An empty body is an empty input, as the
// service treats it.
func decodeInput(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return serializationError(fmt.Errorf("cannot parse the request body: %w", err))
	}
	return nil
}
