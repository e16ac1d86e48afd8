package firehose

import (
	"io"
	"net/http"
)

// HTTPClient returns the HTTP client the Firehose SDK client should use.
//
// Why: with the SDK's request bodies (which implement io.WriterTo), about 1
// PutRecordBatch call in 100 on the test machines had its connection closed
// by net/http's write loop while the 200 response was being read
// (aws/aws-sdk-go-v2#2737). The call then fails although Firehose accepted
// its records; this output must resend a failed call whole (it cannot know
// which records landed), so each such spurious failure duplicates a call's
// rows. Hiding WriterTo from the transport avoids the race.
func HTTPClient() *http.Client {
	return &http.Client{Transport: plainBodyTransport{http.DefaultTransport}}
}

type plainBodyTransport struct{ rt http.RoundTripper }

func (p plainBodyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r = r.Clone(r.Context())
		r.Body = struct{ io.ReadCloser }{r.Body}
	}
	return p.rt.RoundTrip(r)
}
