package analytics

import (
	"net/http"
	"time"

	"github.com/cdcflow/cdcflow/views/httpapi"
)

// WindowsResponse answers GET /v1/reports/windows?date=YYYY-MM-DD.
type WindowsResponse struct {
	ReportType  string         `json:"report_type"` // "windows"
	GeneratedAt string         `json:"generated_at"`
	Date        string         `json:"date"`
	Data        []WindowReport `json:"data"`
}

// Routes registers the report queries on srv: GET /v1/reports/{name} with
// the same JSON as the S3 reports (404 for a name not in ReportNames), and
// GET /v1/reports/windows?date=YYYY-MM-DD with the non-empty windows of that
// UTC day.
func Routes(srv *httpapi.Server, t Source) {
	srv.Handle("GET /v1/reports/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if !known(name) {
			httpapi.Error(w, http.StatusNotFound, "unknown report "+name)
			return
		}
		s, err := t.Snapshot()
		if err != nil {
			httpapi.Error(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		rep, err := s.Report(name, time.Now())
		if err != nil {
			httpapi.Error(w, http.StatusNotFound, err.Error())
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, rep)
	})
	srv.Handle("GET /v1/reports/windows", func(w http.ResponseWriter, r *http.Request) {
		day, err := ParseDay(r.URL.Query().Get("date"))
		if err != nil {
			httpapi.Error(w, http.StatusBadRequest, err.Error())
			return
		}
		s, err := t.Snapshot()
		if err != nil {
			httpapi.Error(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, WindowsResponse{
			ReportType: "windows", GeneratedAt: stamp(time.Now()), Date: day, Data: s.WindowsOn(day),
		})
	})
}

func known(name string) bool {
	for _, n := range ReportNames() {
		if n == name {
			return true
		}
	}
	return false
}
