// Package firehoselocal is a local emulator of Amazon Data Firehose (Kinesis
// Data Firehose) for development and tests: the engine behind
// cmd/firehose-local.
//
// # What it owns
//
//   - The Firehose data and control plane over AWS JSON 1.1 (POST /,
//     X-Amz-Target: Firehose_20150804.<Op>): CreateDeliveryStream,
//     DescribeDeliveryStream, ListDeliveryStreams, DeleteDeliveryStream,
//     PutRecord and PutRecordBatch, with the limits, error types, messages
//     and response shapes of the real service, so that unmodified clients
//     (aws-sdk-go-v2, the AWS CLI, the JS SDK) cannot tell the difference.
//   - Three destinations: S3DestinationConfiguration,
//     ExtendedS3DestinationConfiguration and RedshiftDestinationConfiguration
//     (see Redshift below).
//   - Per delivery stream: the buffer (records concatenated without a
//     delimiter, as Firehose does, unless the AppendDelimiterToRecord
//     processor is on), the buffering hints (size and interval, whichever
//     comes first), and delivery of each buffer as one S3 object named as
//     Firehose names it: <evaluated prefix><name>-<version>-YYYY-MM-DD-HH-MM-SS-<uuid>[.gz]
//     (see Prefixes below).
//   - Fault injection (throttled records, failed calls, latency) and
//     counters, for tests.
//
// Each delivery stream has one goroutine that activates it after the
// creation delay, watches the interval trigger on a ticker and uploads
// sealed buffers in order. A Redshift stream's goroutine owns a second one,
// the loader, which runs the COPYs; it waits for it before it returns.
// Server.Close stops them all after flushing (and loading).
//
// # What it must never do
//
//   - Lose an accepted record. A record answered with a RecordId is
//     delivered to S3 eventually (or reported by Close as undelivered); a
//     failed S3 upload keeps its buffer and is retried with backoff, with
//     the same object key, so a retry never produces a second object. For
//     Redshift, a staged object is either loaded, or listed in an errors
//     manifest (the service's behaviour once RetryOptions run out), or
//     reported by Close.
//   - Silently mis-emulate. Configuration it does not implement (ZIP/Snappy
//     compression, Lambda and the other processors outside those below, ORC
//     output, Lambda partition keys, KMS, S3 backup of S3 destinations,
//     other destinations and sources, COPY options it cannot reproduce) is
//     refused with InvalidArgumentException naming the unsupported field,
//     never accepted and ignored.
//   - Hold global mutable state: everything lives in a Server.
//   - Verify SigV4 signatures or credentials: any request, signed or not, is
//     accepted.
//
// # Prefixes
//
// Prefix and ErrorOutputPrefix may hold the service's expressions:
//
//   - !{timestamp:<pattern>}: the arrival time (UTC) of the oldest record in
//     the object, formatted by a java.time DateTimeFormatter pattern. Every
//     timestamp expression of a prefix, and the YYYY-MM-DD-HH-MM-SS of the
//     object name, is that one instant. Pattern letters evaluated: y and u
//     (year; yy is two digits), M and MM, d and dd, H and HH, m and mm, s and
//     ss, S to SSSSSSSSS (fraction); quoted literals ('...', with a doubled
//     quote for a quote) and other non-letters are copied. Other letters
//     (month names, weekdays, zones...) and optional sections are refused
//     as not supported.
//   - !{firehose:random-string}: 11 characters, new for every occurrence in
//     every object.
//   - !{firehose:error-output-type}: ErrorOutputPrefix only.
//
// A prefix without a timestamp expression gets !{timestamp:yyyy/MM/dd/HH/}
// appended (so "raw/" gives raw/2025/01/02/03/...). Without ErrorOutputPrefix
// the error prefix is <Prefix><error-output-type>/yyyy/MM/dd/HH/. The
// service's rules are enforced at creation, as InvalidArgumentException
// "Ths supplied prefix(es) do not satisfy the following constraint: ..."
// (the service's own wording, typo included): expressions in Prefix need an
// ErrorOutputPrefix; an ErrorOutputPrefix with expressions needs
// !{firehose:error-output-type}; Prefix cannot hold
// !{firehose:error-output-type}; !{ must open a !{namespace:value}
// expression; unknown namespaces and firehose values are rejected; neither
// prefix may evaluate to more than 512 characters; a Redshift destination's
// intermediate Prefix holds no expressions and its ErrorOutputPrefix must be
// null. !{partitionKeyFromQuery:name} needs dynamic partitioning (below);
// !{partitionKeyFromLambda:...} is refused. S3 uploads are retried until
// they succeed, so the error prefix receives only records that failed
// format conversion or dynamic partitioning.
//
// # Processing
//
// ProcessingConfiguration (ExtendedS3 and Redshift) accepts the
// AppendDelimiterToRecord processor, without parameters or with
// Delimiter "\n": with Enabled true, a newline follows every record (every
// sub-record after deaggregation). With dynamic partitioning it also takes
// RecordDeAggregation and MetadataExtraction (below). Processor types
// outside the model are a ValidationException; the model's other types
// (Lambda, Decompression, CloudWatchLogProcessing) are refused with an
// InvalidArgumentException naming them. With Enabled false or absent the
// processors are validated and described but not applied.
//
// # Record format conversion
//
// DataFormatConversionConfiguration (ExtendedS3; enabled unless Enabled is
// false) converts JSON records to Parquet:
//
//   - Schema: SchemaConfiguration's DatabaseName and TableName (RoleARN
//     required, VersionId LATEST) name a table definition file,
//     <Config.GlueTablesDir>/<DatabaseName>/<TableName>.json (cmd
//     firehose-local -glue-tables-dir), holding the table as Glue's
//     CreateTable takes it: {"Name": ..., "StorageDescriptor": {"Columns":
//     [{"Name": "ts", "Type": "timestamp"}, ...]}, "PartitionKeys": [...]}.
//     Columns of type string, varchar(n), char(n), tinyint, smallint, int,
//     bigint, float, double, boolean, timestamp and date are converted;
//     others (decimal, complex types) are refused at creation. The file is
//     read at creation (the service reads the table at delivery); a missing
//     file is an InvalidArgumentException. The same file can create the real
//     table (aws glue create-table --table-input, or the Terraform module's
//     glue_table_file).
//   - Input: a record holds one or more JSON objects one after another (an
//     array is invalid input). OpenXJsonSerDe: keys match columns ignoring
//     case (CaseInsensitive, default true), "." becomes "_" with
//     ConvertDotsInJsonKeysToUnderscores, ColumnToJsonKeyMappings maps a
//     column to another key; timestamps may be yyyy-MM-dd'T'HH:mm:ss[.S]'Z',
//     yyyy-[M]M-[d]d HH:mm:ss[.S] (UTC), epoch seconds, epoch milliseconds (an
//     integer of 11 digits or more) or fractional epoch seconds.
//     HiveJsonSerDe: keys match ignoring case; timestamps are
//     java.sql.Timestamp's yyyy-[m]m-[d]d hh:mm:ss[.f...] unless
//     TimestampFormats gives Joda-Time patterns (y M d H h m s S a E Z,
//     quoted literals) or "millis". Integers must be integral and in range,
//     numeric strings are accepted, unknown keys ignored, missing keys null.
//   - Output: ParquetSerDe Compression SNAPPY (default), GZIP or
//     UNCOMPRESSED; BlockSizeBytes (row group size, at least 64 MiB, default
//     256 MiB); PageSizeBytes (at least 64 KiB, default 1 MiB);
//     EnableDictionaryCompression (default off); WriterVersion V1/V2 (data
//     page version). Every column is OPTIONAL; timestamps are INT96, as
//     Hive's Parquet writer stores them; dates are DATE. OrcSerDe is
//     refused. Objects are named as other objects (FileExtension, if set, is
//     the extension).
//   - Limits: CompressionFormat must be UNCOMPRESSED; BufferingHints
//     SizeInMBs must be at least 64 (default 128 with conversion) unless
//     Config.AllowSmallBuffers (-allow-small-buffers) is set.
//   - Failures: a record that does not convert (not JSON, an array, a value
//     of the wrong type or out of range, an unreadable timestamp) is written
//     to the error prefix with !{firehose:error-output-type}
//     format-conversion-failed as one JSON line per record: attemptsMade,
//     arrivalTimestamp, lastErrorCode DataFormatConversion.MalformedData,
//     lastErrorMessage, attemptEndingTimestamp, rawData (base64),
//     sequenceNumber, subSequenceNumber, dataCatalogTable.
//
// # Dynamic partitioning
//
// DynamicPartitioningConfiguration Enabled (ExtendedS3): ErrorOutputPrefix
// is required, Prefix must hold at least one !{partitionKeyFromQuery:name}
// (ErrorOutputPrefix none), IntervalInSeconds must be above 0, and an
// enabled ProcessingConfiguration needs a MetadataExtraction processor
// (MetadataExtractionQuery, JsonParsingEngine JQ-1.6) whose query (run by
// gojq) yields an object; each key the prefix names must be a string,
// number or boolean. RecordDeAggregation (SubRecordType JSON: consecutive
// or newline-separated objects; DELIMITED: Delimiter base64-encoded) first
// splits a record into at most 500 records. Each evaluated prefix is a
// partition with its own buffer, sealed by the buffering hints on its own
// (timestamps in the prefix are the arrival time). A record whose keys
// cannot be extracted goes to the error prefix as partitioning-failed
// (errorCode DynamicPartitioning.MetadataExtractionFailed, rawData); a
// record for a new partition when Config.ActivePartitionLimit (default
// 500; -active-partition-limit) partitions hold undelivered data goes there
// as activePartitionExceeded. Format conversion applies after partitioning.
//
// # Redshift
//
// A Redshift destination stages exactly as an S3 destination delivers
// (S3Configuration: bucket, Prefix, BufferingHints, UNCOMPRESSED or GZIP;
// ZIP, Snappy and HADOOP_SNAPPY are rejected as the service rejects them),
// then loads the staged objects into PostgreSQL the way Redshift's COPY
// would load them:
//
//   - Which server: Config.RedshiftPostgresURL (cmd/firehose-local
//     -redshift-postgres-url) stands in for every cluster. ClusterJDBCURL
//     must match the model's pattern, so it names a Redshift host, e.g.
//     jdbc:redshift://examplecluster.abc123.us-east-1.redshift.amazonaws.com:5439/dev;
//     its host and port are ignored and its database (dev) is the
//     PostgreSQL database loaded into. The URL's user and password are used
//     when it names a user, else the destination's Username and Password.
//     Without RedshiftPostgresURL, Redshift destinations are refused.
//   - Each load writes a manifest,
//     <Prefix>manifests/YYYY/MM/DD/HH/<name>-<version>-YYYY-MM-DD-HH-MM-SS-<uuid>,
//     {"entries":[{"url":"s3://bucket/key","mandatory":true},...]}, listing
//     up to 100 staged objects (more than one when loads fall behind), then
//     reads the manifest and those objects back from S3 and streams them
//     into one COPY <DataTableName> (<columns>) FROM STDIN, so a load is all
//     or nothing, as a Redshift COPY is. One COPY at a time per stream; the
//     next starts when the previous ends. The timestamp of a manifest's name
//     is the oldest record of its first object.
//   - DataTableName and DataTableColumns are resolved as PostgreSQL resolves
//     identifiers (unquoted names fold to lower case); a missing table or
//     column fails the load. Without DataTableColumns all columns load, in
//     table order; columns left out get their defaults.
//   - CopyOptions must name CSV or JSON; they are parsed at creation and
//     anything else refused. CSV objects go to PostgreSQL's COPY csv as they
//     are, with [QUOTE [AS] 'c'], DELIMITER [AS] 'c' (one byte, '\t'
//     allowed), NULL AS 'str', IGNOREHEADER [AS] n (lines skipped at the
//     start of every object) and EMPTYASNULL mapped: by default an unquoted
//     empty field is NULL, except in CHAR/VARCHAR/TEXT columns where it is
//     an empty string, as in Redshift. JSON 'auto' and 'auto ignorecase'
//     read a stream of JSON objects (concatenated or one per line); keys map
//     to column names exactly ('auto': Redshift's columns are lower case, so
//     "Name" does not fill name) or ignoring case ('auto ignorecase'); a
//     missing key or null loads NULL; other keys are ignored; nested objects
//     and arrays load as their JSON text; a record that is not an object
//     fails the load. JSON is converted in Go to CSV rows (every value
//     quoted, NULL unquoted) for COPY FROM STDIN, so PostgreSQL does the type
//     conversion. TIMEFORMAT 'auto' and DATEFORMAT 'auto' leave parsing to
//     PostgreSQL's date/time input (ISO 8601 and the common layouts);
//     TIMEFORMAT 'epochsecs' and 'epochmillisecs' convert JSON numbers bound
//     for timestamp columns (JSON only). GZIP gunzips the objects; as in
//     Redshift, GZIP objects loaded without it (or plain objects with it)
//     fail the load, they are not refused at creation. COMPUPDATE and
//     STATUPDATE are accepted and ignored. Refused: Redshift's pipe-delimited
//     text format (no CSV or JSON), JSONPaths files, multi-byte delimiters,
//     custom TIMEFORMAT/DATEFORMAT strings, and the parameters that change
//     what loads (ACCEPTINVCHARS, BLANKSASNULL, TRUNCATECOLUMNS, MAXERROR,
//     REMOVEQUOTES, ESCAPE, FILLRECORD, ...).
//   - A failed COPY is retried with backoff (100ms doubling to 5s; the
//     manifest is written once) until RetryOptions.DurationInSeconds
//     (0-7200, default 3600; real time, not Config.Now) have passed since
//     its first attempt; 0 means one attempt. Then its objects are skipped:
//     the same manifest is written as <Prefix>errors/manifests/<same name>,
//     the load counts in loads_failed and the stream goes on.
//   - S3BackupMode Enabled writes every staged object's records also to
//     S3BackupConfiguration's bucket, named and compressed by that
//     configuration (prefix expressions allowed); the backup objects are cut
//     with the intermediate bucket's buffering hints, not their own.
//   - Username and Password are required (SecretsManagerConfiguration is
//     refused); DescribeDeliveryStream answers RedshiftDestinationDescription
//     without the password. Close loads what is staged; if its deadline
//     passes while a load is still retried, the unloaded objects are listed
//     under errors/manifests/ (best effort) and Close's error counts them.
//   - Not emulated: STL_LOAD_ERRORS (the error is in last_load_error and the
//     log) and CloudWatch metrics.
//
// # Deliberate differences from AWS
//
//   - CopyOptions and DataTableColumns are checked at creation; the service
//     accepts anything and fails each COPY.
//   - Every Redshift cluster maps to one PostgreSQL server (see above);
//     PostgreSQL's type parsing stands in for Redshift's.
//   - Timestamps are UTC only (CustomTimeZone other than UTC is refused).
//   - Creation is asynchronous but takes Config.CreateDelay (100ms), not a
//     minute; DeliveryStreamType is DirectPut only; VersionId stays 1.
//   - The Glue table of format conversion is a file read at creation.
//   - Dynamic partitioning has no multi-stage buffering (objects come after
//     the buffering hint, not up to 1.5 times it) and no retry of failed
//     partitions (S3 uploads are retried until they succeed).
//
// # Error types
//
// Constraint violations of the API model (name pattern and length, 1-500
// records, 1,024,000 bytes per record, hint ranges, required members, enum
// values, the ClusterJDBCURL pattern) are answered as the service's request
// validation layer answers them: HTTP 400, __type ValidationException,
// message "N validation error(s) detected: Value ... at
// 'records.1.member.data' failed to satisfy constraint: ...", sensitive
// values (Username, Password) shown redacted. ValidationException is not in
// the Firehose model, so SDKs surface it as a generic API error with that
// code. Checks the service makes itself use the modelled exceptions: a
// request whose records total more than 4 MiB is InvalidArgumentException
// "Records size exceeds 4 MB limit"; prefix rules and destination rules are
// InvalidArgumentException; an unknown, CREATING or DELETING stream is
// ResourceNotFoundException; a duplicate name, or deleting a CREATING
// stream, is ResourceInUseException; throttling is
// ServiceUnavailableException (HTTP 503).
//
// # Local endpoints
//
// Besides the Firehose API, the handler serves:
//
//	GET  /healthz                      200 "ok"
//	GET  /_local/streams               counters per stream, JSON object keyed by name:
//	                                   {"status", "records_accepted", "bytes_accepted",
//	                                    "records_throttled", "calls_failed",
//	                                    "objects_delivered", "records_delivered",
//	                                    "bytes_delivered", "buffered_bytes",
//	                                    "delivery_failures", "last_delivery_error",
//	                                    "records_failed_conversion", "records_failed_partitioning",
//	                                    Redshift: "objects_pending_load", "loads_succeeded",
//	                                    "rows_loaded", "load_attempts_failed",
//	                                    "loads_failed", "objects_skipped", "last_load_error"}
//	GET  /_local/faults?stream=NAME    the stream's current faults
//	POST /_local/faults?stream=NAME    set the stream's faults; body (all optional,
//	                                   an empty object clears them):
//	                                   {"throttle_fraction": 0.2, "fail_call_fraction": 0.1,
//	                                    "latency_ms": 50, "seed": 7}
//
// bytes_accepted counts record bytes as clients sent them; bytes_delivered
// and buffered_bytes count what is written (after AppendDelimiterToRecord,
// before compression), so after a complete flush bytes_delivered equals
// bytes_accepted plus one byte per record with the processor on, and
// bytes_accepted without it. For Redshift, objects_delivered counts objects
// staged in the intermediate bucket; loads_failed counts loads given up
// after RetryOptions (one errors manifest each) and objects_skipped the
// objects they listed.
package firehoselocal
