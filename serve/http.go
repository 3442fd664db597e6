package serve

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/faultline/faultline/serve/history"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// auth guards every change. The token itself never leaves the server. A login opens
// a session: a random ID in an HttpOnly cookie, known to this process only, that ends
// at logout, after sessionLife, when serve restarts or when the token changes. Each
// session's CSRF token is an HMAC of its ID, so a form posted with another session's
// token is refused.
type auth struct {
	token []byte
	mu    sync.Mutex
	// sessions holds each open session's end, by ID.
	sessions map[string]time.Time
	now      func() time.Time
}

const sessionCookie = "faultline_session"

// sessionLife is how long a login lasts; maxSessions bounds the sessions kept (the
// oldest end first when a login would pass it).
const (
	sessionLife = 12 * time.Hour
	maxSessions = 1000
)

func newAuth(token string) *auth {
	return &auth{token: []byte(token), sessions: map[string]time.Time{}, now: time.Now}
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// bearer says whether the request carries the token as a bearer token.
func (a *auth) bearer(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	return ok && len(a.token) > 0 && equal(strings.TrimSpace(tok), string(a.token))
}

// open starts a session and returns its ID.
func (a *auth) open() string {
	var b [32]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	for k, end := range a.sessions {
		if !now.Before(end) {
			delete(a.sessions, k)
		}
	}
	for len(a.sessions) >= maxSessions {
		oldest := ""
		for k, end := range a.sessions {
			if oldest == "" || end.Before(a.sessions[oldest]) {
				oldest = k
			}
		}
		delete(a.sessions, oldest)
	}
	a.sessions[id] = now.Add(sessionLife)
	return id
}

// session is the ID of the request's open session, if it has one.
func (a *auth) session(r *http.Request) (string, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || len(c.Value) != 64 {
		return "", false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	end, ok := a.sessions[c.Value]
	if !ok {
		return "", false
	}
	if !a.now().Before(end) {
		delete(a.sessions, c.Value)
		return "", false
	}
	return c.Value, true
}

// loggedIn says whether the request belongs to an open session.
func (a *auth) loggedIn(r *http.Request) bool {
	_, ok := a.session(r)
	return ok
}

// close ends the request's session.
func (a *auth) close(r *http.Request) {
	if id, ok := a.session(r); ok {
		a.mu.Lock()
		delete(a.sessions, id)
		a.mu.Unlock()
	}
}

// csrf is the CSRF token of the session id.
func (a *auth) csrf(id string) string {
	m := hmac.New(sha256.New, a.token)
	m.Write([]byte("faultline serve csrf " + id))
	return hex.EncodeToString(m.Sum(nil))
}

// csrfOK says whether a form post carries its session's CSRF token.
func (a *auth) csrfOK(r *http.Request) bool {
	id, ok := a.session(r)
	return ok && equal(r.PostFormValue("csrf"), a.csrf(id))
}

// secure says whether the browser reached serve over TLS, directly or through a
// reverse proxy that says so: the session cookie is then sent over TLS only.
func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// Handler serves the UI, the API and /metrics.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.pageRuns)
	mux.HandleFunc("GET /runs/{id}", s.pageRun)
	mux.HandleFunc("GET /runs/{id}/{file}", s.runFile)
	mux.HandleFunc("GET /experiments/{name}", s.pageExperiment)
	mux.HandleFunc("GET /schedules", s.pageSchedules)
	mux.HandleFunc("GET /login", s.pageLogin)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.form(s.logout))
	mux.HandleFunc("POST /schedules/{name}/run", s.form(s.formRun))
	mux.HandleFunc("POST /schedules/{name}/pause", s.form(s.formPause(true)))
	mux.HandleFunc("POST /schedules/{name}/resume", s.form(s.formPause(false)))
	mux.HandleFunc("POST /halt", s.form(s.formHalt))
	mux.HandleFunc("POST /resume", s.form(s.formResume))

	mux.HandleFunc("GET /api/runs", s.apiRuns)
	mux.HandleFunc("GET /api/runs/{id}", s.apiRun)
	mux.HandleFunc("GET /api/schedules", s.apiSchedules)
	mux.HandleFunc("POST /api/schedules/{name}/trigger", s.api(s.apiTrigger))
	mux.HandleFunc("POST /api/schedules/{name}/pause", s.api(s.apiPause(true)))
	mux.HandleFunc("POST /api/schedules/{name}/resume", s.api(s.apiPause(false)))
	mux.HandleFunc("POST /api/halt", s.api(s.apiHalt))
	mux.HandleFunc("POST /api/resume", s.api(s.apiResume))
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })

	// A cross-site browser request that would change something is refused (403)
	// before it reaches any handler.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "cross-site request refused: use the form on this server's own pages", http.StatusForbidden)
	}))
	return securityHeaders(cop.Handler(mux))
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-src 'self'; form-action 'self'; frame-ancestors 'self'; base-uri 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// form guards a UI form post: the session cookie (401 without) and the CSRF token
// (403 when wrong).
func (s *Service) form(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if !s.auth.loggedIn(r) && !s.auth.bearer(r) {
			w.WriteHeader(http.StatusUnauthorized)
			s.render(w, r, "login", map[string]any{"Error": "Log in with the token to do that."})
			return
		}
		if !s.auth.bearer(r) && !s.auth.csrfOK(r) {
			http.Error(w, "the form's CSRF token is missing or wrong: reload the page and try again", http.StatusForbidden)
			return
		}
		h(w, r)
	}
}

// api guards an API call: the bearer token (401 without).
func (s *Service) api(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.auth.bearer(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="faultline"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or wrong bearer token: send Authorization: Bearer <the token in the server's token_file>"})
			return
		}
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func (s *Service) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if !equal(strings.TrimSpace(r.PostFormValue("token")), string(s.auth.token)) {
		w.WriteHeader(http.StatusUnauthorized)
		s.render(w, r, "login", map[string]any{"Error": "That is not the token."})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: s.auth.open(), Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: secure(r), MaxAge: int(sessionLife / time.Second)})
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

// safeNext keeps a redirect on this server: a path of its own, or /schedules.
// Browsers drop tabs and newlines from a Location and read a backslash as a slash, so
// "/\t/evil.example" would leave as "//evil.example": any control character, space or
// backslash is refused, and so is anything with a scheme or a host, or a path that
// starts with "//" once decoded.
func safeNext(next string) string {
	const fallback = "/schedules"
	if next == "" || strings.ContainsRune(next, '\\') {
		return fallback
	}
	for _, c := range next {
		if unicode.IsControl(c) || unicode.IsSpace(c) {
			return fallback
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" ||
		!strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") || strings.ContainsRune(u.Path, '\\') ||
		!strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
		return fallback
	}
	return next
}

func (s *Service) logout(w http.ResponseWriter, r *http.Request) {
	s.auth.close(r)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secure(r), MaxAge: -1})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Service) formRun(w http.ResponseWriter, r *http.Request) {
	id, err := s.Trigger(r.PathValue("name"), "manual")
	if err != nil {
		http.Error(w, err.Error(), statusOf(err))
		return
	}
	http.Redirect(w, r, "/schedules?started="+id, http.StatusSeeOther)
}

func (s *Service) formPause(paused bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := s.SetPaused(r.PathValue("name"), paused, "paused from the UI"); err != nil {
			http.Error(w, err.Error(), statusOf(err))
			return
		}
		http.Redirect(w, r, "/schedules", http.StatusSeeOther)
	}
}

func (s *Service) formHalt(w http.ResponseWriter, r *http.Request) {
	s.Halt("HALT pressed in the UI")
	http.Redirect(w, r, "/schedules", http.StatusSeeOther)
}

func (s *Service) formResume(w http.ResponseWriter, r *http.Request) {
	s.Resume()
	http.Redirect(w, r, "/schedules", http.StatusSeeOther)
}

func statusOf(err error) int {
	switch {
	case errors.Is(err, ErrNoSchedule), errors.Is(err, history.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrIsHalted):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

func (s *Service) apiRuns(w http.ResponseWriter, r *http.Request) {
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	runs, err := s.store.List(history.Filter{Experiment: r.URL.Query().Get("experiment"), Schedule: r.URL.Query().Get("schedule"), Limit: limit})
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	if runs == nil {
		runs = []history.Run{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"runs": runs})
}

func (s *Service) apiRun(w http.ResponseWriter, r *http.Request) {
	run, err := s.store.Get(r.PathValue("id"))
	if err != nil {
		writeJSON(w, statusOf(err), map[string]string{"error": err.Error()})
		return
	}
	out := map[string]any{"run": run}
	dir, _ := s.store.RunDir(run.ID)
	if raw, err := os.ReadFile(filepath.Join(dir, "result.json")); err == nil {
		out["result"] = json.RawMessage(raw)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Service) apiSchedules(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"schedules": s.Schedules(), "halted": s.Halted()})
}

func (s *Service) apiTrigger(w http.ResponseWriter, r *http.Request) {
	id, err := s.Trigger(r.PathValue("name"), "api")
	if err != nil {
		writeJSON(w, statusOf(err), map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"run": id, "url": "/api/runs/" + id})
}

func (s *Service) apiPause(paused bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := s.SetPaused(r.PathValue("name"), paused, "paused through the API"); err != nil {
			writeJSON(w, statusOf(err), map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"schedule": r.PathValue("name"), "paused": paused})
	}
}

func (s *Service) apiHalt(w http.ResponseWriter, r *http.Request) {
	n := s.Halt("halted through the API")
	writeJSON(w, http.StatusOK, map[string]any{"halted": true, "runs_reverting": n})
}

func (s *Service) apiResume(w http.ResponseWriter, r *http.Request) {
	s.Resume()
	writeJSON(w, http.StatusOK, map[string]any{"halted": false})
}

// runFile serves a run's own files. The report is served with its own strict policy
// and sandboxed: it is shown inside the run's page.
func (s *Service) runFile(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	types := map[string]string{"report.html": "text/html; charset=utf-8", "result.json": "application/json", "log": "text/plain; charset=utf-8"}
	ctype, ok := types[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	run, err := s.store.Get(r.PathValue("id"))
	if err != nil {
		http.Error(w, err.Error(), statusOf(err))
		return
	}
	dir, _ := s.store.RunDir(run.ID)
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		http.Error(w, fmt.Sprintf("run %s has no %s", run.ID, name), http.StatusNotFound)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", ctype)
	if name == "report.html" {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox")
	}
	http.ServeContent(w, r, "", run.Ended, f)
}
