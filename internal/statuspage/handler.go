package statuspage

import (
	"context"
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"time"

	"github.com/shardflow/shardflow/internal/opsserver"
)

//go:embed assets
var assets embed.FS

// readinessTimeout bounds how long /status.json waits for a readiness
// evaluation (the ops server bounds each check already).
const readinessTimeout = 3 * time.Second

// Readiness returns the current readiness report, such as
// (*opsserver.Server).Readiness.
type Readiness func(ctx context.Context) (opsserver.Report, error)

// Status is the body of /status.json.
type Status struct {
	Snapshot
	// Readiness is the ops server's report (outputs, Redis, draining);
	// nil when no Readiness was given or it could not be had in time.
	Readiness *opsserver.Report `json:"readiness"`
	// ReadinessError says why Readiness is missing.
	ReadinessError string `json:"readiness_error,omitempty"`
}

// Handler serves the status page of c:
//
//	GET /, /status       the page
//	GET /status.json     a Status
//	GET /static/...      the page's script and stylesheet
//
// and 404 for anything else, so it can be mounted as the catch-all "/" of
// a mux whose other routes are more specific. ready may be nil.
func Handler(c *Collector, ready Readiness) http.Handler {
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		panic("statuspage: embedded assets: " + err.Error()) // the embed directive guarantees the directory
	}
	mux := http.NewServeMux()
	page := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		http.ServeFileFS(w, r, static, "index.html")
	}
	mux.HandleFunc("GET /{$}", page)
	mux.HandleFunc("GET /status", page)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /status.json", func(w http.ResponseWriter, r *http.Request) {
		st := Status{Snapshot: c.Snapshot()}
		if ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), readinessTimeout)
			rep, err := ready(ctx)
			cancel()
			if err != nil {
				st.ReadinessError = err.Error()
			} else {
				st.Readiness = &rep
			}
		}
		body, err := json.Marshal(st)
		if err != nil {
			http.Error(w, "statuspage: encode status: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(append(body, '\n'))
	})
	return mux
}
