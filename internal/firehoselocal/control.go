package firehoselocal

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"
)

// maxStreams is the service's default quota of delivery streams per region.
const maxStreams = 5000

// createMembers are the CreateDeliveryStream members firehose-local
// implements; any other member present (another destination or source,
// server-side encryption) is refused by name rather than ignored.
var createMembers = []string{
	"DeliveryStreamName", "DeliveryStreamType", "S3DestinationConfiguration",
	"ExtendedS3DestinationConfiguration", "RedshiftDestinationConfiguration",
	"DirectPutSourceConfiguration", "Tags",
}

func (s *Server) createDeliveryStream(_ context.Context, body []byte) (any, error) {
	var in createDeliveryStreamInput
	if err := decodeInput(body, &in); err != nil {
		return nil, err
	}
	var v violations
	checkStreamName(&v, "deliveryStreamName", in.DeliveryStreamName)
	if in.S3DestinationConfiguration != nil {
		checkS3Config(&v, "s3DestinationConfiguration", in.S3DestinationConfiguration)
	}
	if ext := in.ExtendedS3DestinationConfiguration; ext != nil {
		checkS3Config(&v, "extendedS3DestinationConfiguration", ext)
		checkProcessing(&v, "extendedS3DestinationConfiguration.processingConfiguration", ext.ProcessingConfiguration)
		checkConversion(&v, "extendedS3DestinationConfiguration.dataFormatConversionConfiguration", ext.DataFormatConversionConfiguration)
	}
	if in.RedshiftDestinationConfiguration != nil {
		checkRedshiftConfig(&v, "redshiftDestinationConfiguration", in.RedshiftDestinationConfiguration)
	}
	if t := in.DeliveryStreamType; t != nil {
		switch *t {
		case "DirectPut", "KinesisStreamAsSource", "MSKAsSource", "DatabaseAsSource":
		default:
			v.add(quoted(*t), "deliveryStreamType", "Member must satisfy enum value set: [DirectPut, KinesisStreamAsSource, MSKAsSource, DatabaseAsSource]")
		}
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := refuseUnsupportedMembers(body); err != nil {
		return nil, err
	}
	if t := in.DeliveryStreamType; t != nil && *t != "DirectPut" {
		return nil, unsupported("DeliveryStreamType " + *t)
	}

	d, err := s.buildAnyDestination(&in)
	if err != nil {
		return nil, err
	}

	name := *in.DeliveryStreamName
	arn := "arn:aws:firehose:" + s.cfg.Region + ":" + s.cfg.Account + ":deliverystream/" + name
	st := newStream(name, arn, s.cfg.Now(), d)
	st.limit = s.cfg.ActivePartitionLimit
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, serviceUnavailable("firehose-local is shutting down")
	}
	if _, exists := s.streams[name]; exists {
		return nil, newAPIError(http.StatusBadRequest, "ResourceInUseException",
			"Firehose %s under account %s already exists.", name, s.cfg.Account)
	}
	if len(s.streams) >= maxStreams {
		return nil, newAPIError(http.StatusBadRequest, "LimitExceededException",
			"You have already consumed your firehose quota of %d hoses.", maxStreams)
	}
	s.streams[name] = st
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		st.run(s)
		s.forget(st)
	}()
	attrs := []any{"stream", name, "bucket", d.bucket, "prefix", d.prefix,
		"size_mib", d.sizeMiB, "interval_s", d.intervalSec, "compression", d.compression}
	if r := d.redshift; r != nil {
		attrs = append(attrs, "redshift_database", r.database, "table", r.table, "copy_options", r.options)
	}
	s.log.Info("delivery stream created", attrs...)
	return createDeliveryStreamOutput{DeliveryStreamARN: arn}, nil
}

// buildAnyDestination builds the one destination in's configures.
func (s *Server) buildAnyDestination(in *createDeliveryStreamInput) (destination, error) {
	var set []string
	if in.S3DestinationConfiguration != nil {
		set = append(set, "S3DestinationConfiguration")
	}
	if in.ExtendedS3DestinationConfiguration != nil {
		set = append(set, "ExtendedS3DestinationConfiguration")
	}
	if in.RedshiftDestinationConfiguration != nil {
		set = append(set, "RedshiftDestinationConfiguration")
	}
	switch {
	case len(set) == 0:
		return destination{}, invalidArgument("Exactly one destination configuration must be specified")
	case len(set) > 1:
		return destination{}, invalidArgument("Exactly one destination configuration must be specified, found %s", strings.Join(set, " and "))
	case in.ExtendedS3DestinationConfiguration != nil:
		return buildDestination(in.ExtendedS3DestinationConfiguration, true, &s.cfg)
	case in.S3DestinationConfiguration != nil:
		return buildDestination(in.S3DestinationConfiguration, false, &s.cfg)
	}
	if s.pgURL == nil {
		return destination{}, invalidArgument("RedshiftDestinationConfiguration needs a PostgreSQL server standing in for Redshift: " +
			"start firehose-local with -redshift-postgres-url (Config.RedshiftPostgresURL)")
	}
	return buildRedshiftDestination(in.RedshiftDestinationConfiguration)
}

// refuseUnsupportedMembers rejects a CreateDeliveryStream body that
// configures something outside createMembers.
func refuseUnsupportedMembers(body []byte) error {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil {
		return serializationError(err)
	}
	keys := make([]string, 0, len(members))
	for k, raw := range members {
		if string(raw) != "null" && !slices.Contains(createMembers, k) {
			keys = append(keys, k)
		}
	}
	if len(keys) > 0 {
		sort.Strings(keys)
		return unsupported(keys[0])
	}
	return nil
}

// forget removes a deleted stream once its goroutine has flushed it, which
// frees the name for a new stream.
func (s *Server) forget(st *stream) {
	st.mu.Lock()
	deleted := st.deleted
	st.mu.Unlock()
	if !deleted {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.streams[st.name] == st {
		delete(s.streams, st.name)
	}
}

func (s *Server) describeDeliveryStream(_ context.Context, body []byte) (any, error) {
	var in describeDeliveryStreamInput
	if err := decodeInput(body, &in); err != nil {
		return nil, err
	}
	var v violations
	checkStreamName(&v, "deliveryStreamName", in.DeliveryStreamName)
	if err := v.err(); err != nil {
		return nil, err
	}
	st := s.lookup(*in.DeliveryStreamName)
	if st == nil {
		return nil, s.notFound(*in.DeliveryStreamName)
	}
	return describeDeliveryStreamOutput{DeliveryStreamDescription: deliveryStreamDescription{
		DeliveryStreamName:                    st.name,
		DeliveryStreamARN:                     st.arn,
		DeliveryStreamStatus:                  st.status(),
		DeliveryStreamType:                    "DirectPut",
		VersionId:                             versionID,
		CreateTimestamp:                       epochSeconds(st.created),
		DeliveryStreamEncryptionConfiguration: encryptionStatus{Status: "DISABLED"},
		Destinations:                          []destinationDescription{st.dest.describe()},
		HasMoreDestinations:                   false,
	}}, nil
}

// defaultListLimit is the service's default page size.
const defaultListLimit = 10

func (s *Server) listDeliveryStreams(_ context.Context, body []byte) (any, error) {
	var in listDeliveryStreamsInput
	if err := decodeInput(body, &in); err != nil {
		return nil, err
	}
	var v violations
	checkRange(&v, "limit", in.Limit, 1, 10000)
	if in.ExclusiveStartDeliveryStreamName != nil {
		checkStreamName(&v, "exclusiveStartDeliveryStreamName", in.ExclusiveStartDeliveryStreamName)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	limit := defaultListLimit
	if in.Limit != nil {
		limit = int(*in.Limit)
	}
	s.mu.Lock()
	names := make([]string, 0, len(s.streams))
	for name := range s.streams {
		if in.ExclusiveStartDeliveryStreamName != nil && name <= *in.ExclusiveStartDeliveryStreamName {
			continue
		}
		names = append(names, name)
	}
	s.mu.Unlock()
	// Every stream here is DirectPut: another type filter matches nothing.
	if in.DeliveryStreamType != nil && *in.DeliveryStreamType != "DirectPut" {
		names = names[:0]
	}
	sort.Strings(names)
	out := listDeliveryStreamsOutput{DeliveryStreamNames: names}
	if len(names) > limit {
		out.DeliveryStreamNames, out.HasMoreDeliveryStreams = names[:limit], true
	}
	return out, nil
}

func (s *Server) deleteDeliveryStream(_ context.Context, body []byte) (any, error) {
	var in deleteDeliveryStreamInput
	if err := decodeInput(body, &in); err != nil {
		return nil, err
	}
	var v violations
	checkStreamName(&v, "deliveryStreamName", in.DeliveryStreamName)
	if err := v.err(); err != nil {
		return nil, err
	}
	name := *in.DeliveryStreamName
	st := s.lookup(name)
	if st == nil {
		return nil, s.notFound(name)
	}
	st.mu.Lock()
	switch st.state {
	case statusCreating:
		st.mu.Unlock()
		return nil, newAPIError(http.StatusBadRequest, "ResourceInUseException",
			"Firehose %s under account %s is in CREATING state and cannot be deleted.", name, s.cfg.Account)
	case statusActive:
		// Like the service, deletion is asynchronous: the stream shows
		// DELETING while its buffer is flushed, then disappears.
		st.state = statusDeleting
		st.deleted = true
	}
	st.mu.Unlock()
	st.stop()
	s.log.Info("delivery stream deleting", "stream", name)
	return struct{}{}, nil
}
