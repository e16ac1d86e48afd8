package firehoselocal

import (
	"fmt"
	"regexp"
	"strings"
)

// Model constraints (Firehose API model, 2015-08-04).
var (
	streamNamePattern = regexp.MustCompile(`^[a-zA-Z0-9_.-]+$`)
	bucketARNPattern  = regexp.MustCompile(`^arn:.*:s3:::[\w.\-]{1,255}$`)
	roleARNPattern    = regexp.MustCompile(`^arn:.*:iam::\d{12}:role/[a-zA-Z_0-9+=,.@\-_/]+$`)
	fileExtPattern    = regexp.MustCompile(`^$|^\.[0-9a-z!\-_.*'()]+$`)
)

const (
	defaultSizeMiB     = 5
	defaultIntervalSec = 300
	mib                = 1 << 20
)

// destKind is the kind of destination a stream was created with.
type destKind int

const (
	kindS3 destKind = iota + 1
	kindExtendedS3
	kindRedshift
)

// s3Target is a validated S3 location that Firehose writes objects to: an
// S3 destination, Redshift's intermediate bucket or a backup bucket.
type s3Target struct {
	roleARN     string
	bucketARN   string
	bucket      string
	prefix      string // as configured
	errorPrefix string // as configured
	keyPrefix   prefixTemplate
	errPrefix   prefixTemplate
	sizeMiB     int32
	intervalSec int32
	compression string
	fileExt     string
	cloudWatch  cloudWatchLoggingOptions
}

// destination is a validated destination. For Redshift the embedded
// s3Target is the intermediate bucket that objects are staged in.
type destination struct {
	kind destKind
	s3Target
	proc       *processing              // AppendDelimiterToRecord, deaggregation, metadata extraction
	processing *processingConfiguration // as configured, for Describe
	backup     *s3Target                // S3BackupMode Enabled (Redshift)
	redshift   *redshiftTarget
	// ExtendedS3 only: format conversion (nil: records are written as they
	// came) and dynamic partitioning, with the configurations as given.
	conv          *conversion
	convConfig    *dataFormatConversionConfiguration
	dynamic       bool
	dynamicConfig *dynamicPartitioningConfiguration
	keyNames      []string // the partitionKeyFromQuery names of Prefix
}

// sizeThreshold is the size trigger in bytes. Firehose's "MB" is MiB.
func (d *s3Target) sizeThreshold() int { return int(d.sizeMiB) * mib }

// extension is appended to object keys: FileExtension when set, else the
// compression's own.
func (d *s3Target) extension() string {
	if d.fileExt != "" {
		return d.fileExt
	}
	if d.compression == "GZIP" {
		return ".gz"
	}
	return ""
}

// checkStreamName validates a DeliveryStreamName member against the model.
func checkStreamName(v *violations, path string, name *string) {
	switch {
	case name == nil:
		v.null(path)
	case len(*name) < 1:
		v.add(quoted(*name), path, "Member must have length greater than or equal to 1")
	case len(*name) > 64:
		v.add(quoted(*name), path, "Member must have length less than or equal to 64")
	case !streamNamePattern.MatchString(*name):
		v.add(quoted(*name), path, "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+")
	}
}

// checkS3Config records model constraint violations of an S3 destination
// configuration found at path (e.g. "extendedS3DestinationConfiguration").
func checkS3Config(v *violations, path string, c *s3DestinationConfiguration) {
	at := func(member string) string { return path + "." + member }
	switch {
	case c.RoleARN == nil:
		v.null(at("roleARN"))
	case len(*c.RoleARN) > 512 || !roleARNPattern.MatchString(*c.RoleARN):
		v.add(quoted(*c.RoleARN), at("roleARN"), `Member must satisfy regular expression pattern: arn:.*:iam::\d{12}:role/[a-zA-Z_0-9+=,.@\-_/]+`)
	}
	switch {
	case c.BucketARN == nil:
		v.null(at("bucketARN"))
	case len(*c.BucketARN) > 2048 || !bucketARNPattern.MatchString(*c.BucketARN):
		v.add(quoted(*c.BucketARN), at("bucketARN"), `Member must satisfy regular expression pattern: arn:.*:s3:::[\w\.\-]{1,255}`)
	}
	checkMaxLen(v, at("prefix"), c.Prefix, 1024)
	checkMaxLen(v, at("errorOutputPrefix"), c.ErrorOutputPrefix, 1024)
	if h := c.BufferingHints; h != nil {
		checkRange(v, at("bufferingHints.sizeInMBs"), h.SizeInMBs, 1, 128)
		checkRange(v, at("bufferingHints.intervalInSeconds"), h.IntervalInSeconds, 0, 900)
	}
	if f := c.CompressionFormat; f != nil {
		switch *f {
		case "UNCOMPRESSED", "GZIP", "ZIP", "Snappy", "HADOOP_SNAPPY":
		default:
			v.add(quoted(*f), at("compressionFormat"), "Member must satisfy enum value set: [UNCOMPRESSED, GZIP, ZIP, Snappy, HADOOP_SNAPPY]")
		}
	}
	if e := c.FileExtension; e != nil && (len(*e) > 128 || !fileExtPattern.MatchString(*e)) {
		v.add(quoted(*e), at("fileExtension"), `Member must satisfy regular expression pattern: ^$|\.[0-9a-z!\-_.*'()]+`)
	}
}

func checkMaxLen(v *violations, path string, s *string, max int) {
	if s != nil && len(*s) > max {
		v.add(quoted(*s), path, fmt.Sprintf("Member must have length less than or equal to %d", max))
	}
}

func checkRange(v *violations, path string, n *int32, lo, hi int32) {
	if n == nil {
		return
	}
	if *n < lo {
		v.add(quoted(*n), path, fmt.Sprintf("Member must have value greater than or equal to %d", lo))
	}
	if *n > hi {
		v.add(quoted(*n), path, fmt.Sprintf("Member must have value less than or equal to %d", hi))
	}
}

// s3Use says what an S3 configuration is for: the rules differ.
type s3Use int

const (
	useS3 s3Use = iota
	useS3Dynamic
	useRedshiftStaging
	useBackup
)

// buildS3Target applies defaults and the prefix rules to an S3
// configuration that passed checkS3Config, and refuses, by name, what
// firehose-local does not emulate.
func buildS3Target(c *s3DestinationConfiguration, use s3Use) (s3Target, error) {
	d := s3Target{
		roleARN:     *c.RoleARN,
		bucketARN:   *c.BucketARN,
		bucket:      (*c.BucketARN)[strings.LastIndex(*c.BucketARN, ":")+1:],
		sizeMiB:     defaultSizeMiB,
		intervalSec: defaultIntervalSec,
		compression: "UNCOMPRESSED",
	}
	if c.Prefix != nil {
		d.prefix = *c.Prefix
	}
	if c.ErrorOutputPrefix != nil {
		d.errorPrefix = *c.ErrorOutputPrefix
	}
	if err := d.buildPrefixes(use); err != nil {
		return d, err
	}
	if h := c.BufferingHints; h != nil {
		if (h.SizeInMBs == nil) != (h.IntervalInSeconds == nil) {
			return d, invalidArgument("BufferingHints: SizeInMBs and IntervalInSeconds must be specified together")
		}
		if h.SizeInMBs != nil {
			d.sizeMiB, d.intervalSec = *h.SizeInMBs, *h.IntervalInSeconds
		}
	}
	if c.CompressionFormat != nil {
		d.compression = *c.CompressionFormat
	}
	if d.compression != "UNCOMPRESSED" && d.compression != "GZIP" {
		if use == useRedshiftStaging {
			// Redshift's COPY cannot read these: the service refuses them.
			return d, invalidArgument("Compression format %s is not supported for the Amazon Redshift destination; use UNCOMPRESSED or GZIP", d.compression)
		}
		return d, unsupported("CompressionFormat " + d.compression)
	}
	if e := c.EncryptionConfiguration; e != nil && len(e.KMSEncryptionConfig) > 0 && string(e.KMSEncryptionConfig) != "null" {
		return d, unsupported("KMSEncryptionConfig")
	}
	if c.CloudWatchLoggingOptions != nil {
		d.cloudWatch = *c.CloudWatchLoggingOptions
	}
	return d, nil
}

// buildPrefixes parses Prefix and ErrorOutputPrefix and applies the rules
// the service applies to them together.
func (d *s3Target) buildPrefixes(use s3Use) error {
	pt, err := parsePrefix("Prefix", d.prefix)
	if err != nil {
		return err
	}
	et, err := parsePrefix("ErrorOutputPrefix", d.errorPrefix)
	if err != nil {
		return err
	}
	switch {
	case use == useRedshiftStaging && pt.expressions:
		return prefixRuleError("Prefix cannot contain expressions when the destination is Amazon Redshift")
	case use == useRedshiftStaging && d.errorPrefix != "":
		return prefixRuleError("ErrorOutputPrefix must be null when the destination is Amazon Redshift")
	case pt.errorOutType:
		return prefixRuleError("Prefix cannot contain !{firehose:error-output-type}")
	case pt.expressions && d.errorPrefix == "":
		return prefixRuleError("ErrorOutputPrefix cannot be null or empty when Prefix contains expressions")
	case use == useS3Dynamic && !pt.partitionKey:
		return prefixRuleError("Prefix must contain at least one !{partitionKeyFromQuery:...} expression when dynamic partitioning is enabled")
	case pt.partitionKey && use != useS3Dynamic:
		return prefixRuleError("Prefix cannot contain !{partitionKeyFromQuery:...} unless dynamic partitioning is enabled")
	case et.partitionKey:
		return prefixRuleError("ErrorOutputPrefix cannot contain !{partitionKeyFromQuery:...}")
	case et.expressions && !et.errorOutType:
		return prefixRuleError("ErrorOutputPrefix must contain !{firehose:error-output-type} when it contains expressions")
	}
	d.keyPrefix = pt.withDefaultTimestamp()
	if d.errorPrefix == "" {
		// <prefix><error-output-type>/YYYY/MM/dd/HH/
		d.errPrefix = pt
		d.errPrefix.segments = append(append([]segment(nil), pt.segments...),
			segment{kind: segErrorOutputType}, segment{kind: segLiteral, literal: "/"})
		d.errPrefix.errorOutType = true
		d.errPrefix = d.errPrefix.withDefaultTimestamp()
	} else {
		d.errPrefix = et.withDefaultTimestamp()
	}
	if err := checkEvaluatedLength("Prefix", &d.keyPrefix); err != nil {
		return err
	}
	if d.errorPrefix == "" {
		return nil // the default one is not the client's to check
	}
	return checkEvaluatedLength("ErrorOutputPrefix", &d.errPrefix)
}

// buildDestination builds an S3 or ExtendedS3 destination. c has passed
// checkS3Config.
func buildDestination(c *s3DestinationConfiguration, extended bool, cfg *Config) (destination, error) {
	d := destination{kind: kindS3, proc: &processing{}}
	if extended {
		d.kind = kindExtendedS3
	}
	// The model: format conversion is enabled by default once configured;
	// dynamic partitioning only when Enabled says so.
	converting := extended && c.DataFormatConversionConfiguration != nil &&
		(c.DataFormatConversionConfiguration.Enabled == nil || *c.DataFormatConversionConfiguration.Enabled)
	d.dynamic = extended && c.DynamicPartitioningConfiguration != nil &&
		c.DynamicPartitioningConfiguration.Enabled != nil && *c.DynamicPartitioningConfiguration.Enabled
	use := useS3
	if d.dynamic {
		use = useS3Dynamic
	}
	t, err := buildS3Target(c, use)
	if err != nil {
		return d, err
	}
	d.s3Target = t
	if !extended {
		return d, nil
	}
	if d.proc, err = buildProcessing(c.ProcessingConfiguration, d.dynamic); err != nil {
		return d, err
	}
	d.processing = c.ProcessingConfiguration
	d.convConfig, d.dynamicConfig = c.DataFormatConversionConfiguration, c.DynamicPartitioningConfiguration
	if d.dynamic {
		if d.intervalSec == 0 {
			return d, invalidArgument("BufferingHints.IntervalInSeconds must be greater than 0 when dynamic partitioning is enabled (zero buffering is not available for it)")
		}
		d.keyNames = prefixKeyNames(&d.keyPrefix)
		if d.proc.query == nil {
			return d, invalidArgument("Prefix uses !{partitionKeyFromQuery:%s} but no enabled MetadataExtraction processor defines partition keys", d.keyNames[0])
		}
	}
	if converting {
		hints := c.BufferingHints != nil && c.BufferingHints.SizeInMBs != nil
		if d.conv, err = buildConversion(c.DataFormatConversionConfiguration, &d.s3Target, cfg, hints); err != nil {
			return d, err
		}
	}
	if c.S3BackupMode != nil && *c.S3BackupMode != "Disabled" {
		return d, unsupported("S3BackupMode " + *c.S3BackupMode)
	}
	if len(c.S3BackupConfiguration) > 0 && string(c.S3BackupConfiguration) != "null" {
		return d, unsupported("S3BackupConfiguration")
	}
	if c.CustomTimeZone != nil && *c.CustomTimeZone != "" && *c.CustomTimeZone != "UTC" {
		return d, unsupported("CustomTimeZone " + *c.CustomTimeZone)
	}
	if c.FileExtension != nil {
		d.fileExt = *c.FileExtension
	}
	return d, nil
}

// describe renders t as the API's S3 destination description.
func (t *s3Target) describe() s3DestinationDescription {
	size, interval := t.sizeMiB, t.intervalSec
	return s3DestinationDescription{
		RoleARN:                  t.roleARN,
		BucketARN:                t.bucketARN,
		Prefix:                   t.prefix,
		ErrorOutputPrefix:        t.errorPrefix,
		BufferingHints:           bufferingHints{SizeInMBs: &size, IntervalInSeconds: &interval},
		CompressionFormat:        t.compression,
		EncryptionConfiguration:  encryptionConfiguration{NoEncryptionConfig: "NoEncryption"},
		CloudWatchLoggingOptions: t.cloudWatch,
	}
}

// describe renders d as the API's destination description. The service
// answers both the extended and the plain view for an S3 destination.
func (d *destination) describe() destinationDescription {
	out := destinationDescription{DestinationId: "destinationId-000000000001"}
	if d.kind == kindRedshift {
		out.RedshiftDestinationDescription = d.redshift.describe(d)
		return out
	}
	base := d.s3Target.describe()
	out.S3DestinationDescription = &base
	out.ExtendedS3DestinationDescription = &extendedS3DestinationDescription{
		s3DestinationDescription:          base,
		ProcessingConfiguration:           d.processing,
		S3BackupMode:                      "Disabled",
		FileExtension:                     d.fileExt,
		DataFormatConversionConfiguration: d.convConfig,
		DynamicPartitioningConfiguration:  d.dynamicConfig,
	}
	return out
}
