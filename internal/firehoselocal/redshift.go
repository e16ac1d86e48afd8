package firehoselocal

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

const (
	defaultRedshiftRetrySec = 3600
	maxRedshiftRetrySec     = 7200
)

// jdbcURLPattern is the model's ClusterJDBCURL pattern,
//
//	jdbc:(redshift|postgresql)://((?!-)[A-Za-z0-9-]{1,63}(?<!-)\.)+(redshift(-serverless)?)\.([a-zA-Z0-9\.\-]+):\d{1,5}/[a-zA-Z0-9_$-]+
//
// with its look-arounds (which RE2 lacks) spelled out: a host label is 1-63
// letters, digits or hyphens, not starting or ending with a hyphen.
var jdbcURLPattern = regexp.MustCompile(`^jdbc:(redshift|postgresql)://([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+(redshift(-serverless)?)\.([a-zA-Z0-9.\-]+):\d{1,5}/([a-zA-Z0-9_$-]+)$`)

const jdbcURLModelPattern = `jdbc:(redshift|postgresql)://((?!-)[A-Za-z0-9-]{1,63}(?<!-)\.)+(redshift(-serverless)?)\.([a-zA-Z0-9\.\-]+):\d{1,5}/[a-zA-Z0-9_$-]+`

// sensitive is how validation messages show a sensitive member's value.
const sensitive = "'*** Sensitive Data Redacted ***'"

// redshiftTarget is a validated Redshift destination (its intermediate
// bucket is the destination's s3Target).
type redshiftTarget struct {
	roleARN    string
	jdbcURL    string
	database   string // the last element of jdbcURL: the PostgreSQL database
	username   string
	password   string
	table      string
	columns    string // DataTableColumns as configured ("" = all columns)
	options    string // CopyOptions as configured
	copy       copyOptions
	retrySec   int32
	backupMode string
	cloudWatch cloudWatchLoggingOptions
}

func (r *redshiftTarget) retryDuration() time.Duration {
	return time.Duration(r.retrySec) * time.Second
}

// checkRedshiftConfig records model constraint violations of a
// RedshiftDestinationConfiguration.
func checkRedshiftConfig(v *violations, path string, c *redshiftDestinationConfiguration) {
	at := func(member string) string { return path + "." + member }
	switch {
	case c.RoleARN == nil:
		v.null(at("roleARN"))
	case len(*c.RoleARN) > 512 || !roleARNPattern.MatchString(*c.RoleARN):
		v.add(quoted(*c.RoleARN), at("roleARN"), `Member must satisfy regular expression pattern: arn:.*:iam::\d{12}:role/[a-zA-Z_0-9+=,.@\-_/]+`)
	}
	switch {
	case c.ClusterJDBCURL == nil:
		v.null(at("clusterJDBCURL"))
	case len(*c.ClusterJDBCURL) > 512:
		v.add(quoted(*c.ClusterJDBCURL), at("clusterJDBCURL"), "Member must have length less than or equal to 512")
	case !jdbcURLPattern.MatchString(*c.ClusterJDBCURL):
		v.add(quoted(*c.ClusterJDBCURL), at("clusterJDBCURL"), "Member must satisfy regular expression pattern: "+jdbcURLModelPattern)
	}
	if c.CopyCommand == nil {
		v.null(at("copyCommand"))
	} else {
		cc := c.CopyCommand
		switch {
		case cc.DataTableName == nil:
			v.null(at("copyCommand.dataTableName"))
		case len(*cc.DataTableName) < 1:
			v.add(quoted(*cc.DataTableName), at("copyCommand.dataTableName"), "Member must have length greater than or equal to 1")
		case len(*cc.DataTableName) > 512:
			v.add(quoted(*cc.DataTableName), at("copyCommand.dataTableName"), "Member must have length less than or equal to 512")
		}
		checkMaxLen(v, at("copyCommand.dataTableColumns"), cc.DataTableColumns, 204800)
		checkMaxLen(v, at("copyCommand.copyOptions"), cc.CopyOptions, 204800)
	}
	if u := c.Username; u != nil && (len(*u) < 1 || len(*u) > 512) {
		v.add(sensitive, at("username"), "Member must have length between 1 and 512")
	}
	if p := c.Password; p != nil {
		if len(*p) < 6 {
			v.add(sensitive, at("password"), "Member must have length greater than or equal to 6")
		} else if len(*p) > 512 {
			v.add(sensitive, at("password"), "Member must have length less than or equal to 512")
		}
	}
	if r := c.RetryOptions; r != nil {
		checkRange(v, at("retryOptions.durationInSeconds"), r.DurationInSeconds, 0, maxRedshiftRetrySec)
	}
	if c.S3Configuration == nil {
		v.null(at("s3Configuration"))
	} else {
		checkS3Config(v, at("s3Configuration"), c.S3Configuration)
	}
	if m := c.S3BackupMode; m != nil && *m != "Disabled" && *m != "Enabled" {
		v.add(quoted(*m), at("s3BackupMode"), "Member must satisfy enum value set: [Disabled, Enabled]")
	}
	if c.S3BackupConfiguration != nil {
		checkS3Config(v, at("s3BackupConfiguration"), c.S3BackupConfiguration)
	}
	checkProcessing(v, at("processingConfiguration"), c.ProcessingConfiguration)
}

// buildRedshiftDestination applies defaults to a configuration that passed
// checkRedshiftConfig and refuses what firehose-local does not emulate.
func buildRedshiftDestination(c *redshiftDestinationConfiguration) (destination, error) {
	d := destination{kind: kindRedshift}
	if sm := c.SecretsManagerConfiguration; sm != nil && sm.Enabled != nil && *sm.Enabled {
		return d, unsupported("SecretsManagerConfiguration")
	}
	if c.Username == nil || c.Password == nil {
		return d, invalidArgument("Username and Password are required for the Amazon Redshift destination unless SecretsManagerConfiguration is enabled")
	}
	r := &redshiftTarget{
		roleARN:    *c.RoleARN,
		jdbcURL:    *c.ClusterJDBCURL,
		database:   jdbcURLPattern.FindStringSubmatch(*c.ClusterJDBCURL)[7],
		username:   *c.Username,
		password:   *c.Password,
		table:      *c.CopyCommand.DataTableName,
		retrySec:   defaultRedshiftRetrySec,
		backupMode: "Disabled",
	}
	if p := c.CopyCommand.DataTableColumns; p != nil {
		r.columns = *p
	}
	if p := c.CopyCommand.CopyOptions; p != nil {
		r.options = *p
	}
	var err error
	if c.RetryOptions != nil && c.RetryOptions.DurationInSeconds != nil {
		r.retrySec = *c.RetryOptions.DurationInSeconds
	}
	if c.CloudWatchLoggingOptions != nil {
		r.cloudWatch = *c.CloudWatchLoggingOptions
	}
	if d.s3Target, err = buildS3Target(c.S3Configuration, useRedshiftStaging); err != nil {
		return d, err
	}
	if c.S3BackupMode != nil {
		r.backupMode = *c.S3BackupMode
	}
	if r.backupMode == "Enabled" {
		if c.S3BackupConfiguration == nil {
			return d, invalidArgument("S3BackupConfiguration is required when S3BackupMode is Enabled")
		}
		b, err := buildS3Target(c.S3BackupConfiguration, useBackup)
		if err != nil {
			return d, err
		}
		d.backup = &b
	}
	if d.proc, err = buildProcessing(c.ProcessingConfiguration, false); err != nil {
		return d, err
	}
	d.processing = c.ProcessingConfiguration
	// Last: what the service would accept and Redshift fail on at COPY
	// time, which firehose-local refuses up front.
	if _, err := splitColumns(r.columns); err != nil {
		return d, invalidArgument("CopyCommand.DataTableColumns %q: %v", r.columns, err)
	}
	if r.copy, err = parseCopyOptions(r.options); err != nil {
		return d, err
	}
	d.redshift = r
	return d, nil
}

func (r *redshiftTarget) describe(d *destination) *redshiftDestinationDescription {
	out := &redshiftDestinationDescription{
		RoleARN:        r.roleARN,
		ClusterJDBCURL: r.jdbcURL,
		CopyCommand: copyCommandDescription{
			DataTableName:    r.table,
			DataTableColumns: r.columns,
			CopyOptions:      r.options,
		},
		Username:                 r.username,
		RetryOptions:             retryOptionsDescription{DurationInSeconds: r.retrySec},
		S3DestinationDescription: d.s3Target.describe(),
		ProcessingConfiguration:  d.processing,
		S3BackupMode:             r.backupMode,
		CloudWatchLoggingOptions: r.cloudWatch,
	}
	if d.backup != nil {
		b := d.backup.describe()
		out.S3BackupDescription = &b
	}
	return out
}

// postgresConnString maps a Redshift destination to the PostgreSQL server
// of Config.RedshiftPostgresURL: the database is the one ClusterJDBCURL
// names (its host and port name a Redshift cluster and are ignored); the
// user and password are the URL's when it has a user, else the
// destination's Username and Password.
func postgresConnString(base *url.URL, r *redshiftTarget) string {
	u := *base
	u.Path = "/" + r.database
	u.RawPath = ""
	if u.User == nil || u.User.Username() == "" {
		u.User = url.UserPassword(r.username, r.password)
	}
	return u.String()
}

// parsePostgresURL validates Config.RedshiftPostgresURL.
func parsePostgresURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return nil, fmt.Errorf("scheme %q: want postgres:// or postgresql://", u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("no host in %q", u.Redacted())
	}
	return u, nil
}

// splitColumns parses DataTableColumns ("a, b, \"Mixed\"") into column
// names as PostgreSQL resolves identifiers: unquoted names fold to lower
// case, double-quoted names are kept as written.
func splitColumns(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		name := strings.TrimSpace(part)
		switch {
		case name == "":
			return nil, fmt.Errorf("empty column name")
		case strings.HasPrefix(name, `"`):
			if len(name) < 2 || !strings.HasSuffix(name, `"`) {
				return nil, fmt.Errorf("unterminated quoted column name %s", name)
			}
			name = strings.ReplaceAll(name[1:len(name)-1], `""`, `"`)
		default:
			if strings.ContainsAny(name, " \t\"") {
				return nil, fmt.Errorf("column name %q is not an identifier", name)
			}
			name = strings.ToLower(name)
		}
		out = append(out, name)
	}
	return out, nil
}
