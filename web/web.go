// Package web is trustd's read-only web view: a page per digest, key, TUF
// repository and the log, for people who triage by looking at a page per
// hash. It renders server-side with html/template (escaping every string
// from a statement), needs no JavaScript, and reads only through the
// services trustd's gRPC read RPCs use (the subject lookup and
// evidencesvc.Builder for the one verdict), so a page never tells another
// story than `trustctl subject`.
package web

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/evidence/evidencesvc"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/store"
)

//go:embed templates/*.html static/*
var files embed.FS

// CSP is the Content-Security-Policy of every page: nothing but the
// view's own stylesheet and inline images (the charts are inline SVG).
const CSP = "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// Options are the services the view reads: the implementations behind
// trustd's gRPC read RPCs, called in process. Subject, Builder, Keys, Log,
// Reputation and Store are required; a nil optional service leaves its
// section out.
type Options struct {
	Subject    trustv1.SubjectServiceServer
	Builder    *evidencesvc.Builder
	Reputation trustv1.FeedbackServiceServer
	Keys       trustv1.KeyServiceServer
	Log        trustv1.LogServiceServer
	// Locations and Revocations are nil when the server serves none.
	Locations   trustv1.LocationServiceServer
	Revocations trustv1.RevocationServiceServer
	// TUF is nil when the server serves no TUF repositories.
	TUF trustv1.TUFServiceServer
	// Store reads the recent log entries (the log page, what a key signed).
	Store store.Reader
	// Status maps an error of the services to an HTTP status and the
	// message shown, as the server maps errors for every client (nil:
	// 500 and a generic message).
	Status func(ctx context.Context, err error) (int, string)
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Handler serves the web view.
type Handler struct {
	opts  Options
	pages map[string]*template.Template
}

// New builds the view over opts.
func New(opts Options) (*Handler, error) {
	if opts.Subject == nil || opts.Builder == nil || opts.Keys == nil || opts.Log == nil || opts.Reputation == nil || opts.Store == nil {
		return nil, errors.New("web: Subject, Builder, Keys, Log, Reputation and Store are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	h := &Handler{opts: opts, pages: map[string]*template.Template{}}
	for _, p := range []string{"index", "error", "digest", "key", "tuf", "log"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/"+p+".html")
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", p, err)
		}
		h.pages[p] = t
	}
	return h, nil
}

// Register adds the view's routes to mux: / (search), /search, /d/{digest},
// /k/{id}, /tuf-repo/{name...}, /log and /static/.
func (h *Handler) Register(mux *http.ServeMux) {
	static, _ := fs.Sub(files, "static")
	mux.Handle("GET /static/", h.secure(http.StripPrefix("/static/", http.FileServerFS(static))))
	mux.Handle("GET /{$}", h.page(h.index))
	mux.Handle("GET /search", h.page(h.search))
	mux.Handle("GET /d/{digest}", h.page(h.digest))
	mux.Handle("GET /k/{id}", h.page(h.key))
	mux.Handle("GET /tuf-repo/{name...}", h.page(h.tufRepo))
	mux.Handle("GET /log", h.page(h.logPage))
}

// secure sets the security headers every response of the view carries.
func (h *Handler) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", CSP)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Cross-Origin-Resource-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// result is what a page handler produces: a template and its data, a
// redirect, or an error page.
type result struct {
	name     string
	title    string
	data     any
	redirect string
	status   int
	err      error
}

func (h *Handler) page(fn func(r *http.Request) result) http.Handler {
	return h.secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res := fn(r)
		if res.redirect != "" {
			http.Redirect(w, r, res.redirect, http.StatusSeeOther)
			return
		}
		if res.err != nil {
			code, msg := h.status(r.Context(), res.err)
			if res.status != 0 {
				code, msg = res.status, res.err.Error()
			}
			res = result{name: "error", title: http.StatusText(code), status: code, data: errorPage{Code: code, Status: http.StatusText(code), Message: msg, Query: r.URL.Query().Get("q")}}
		}
		var buf bytes.Buffer
		if err := h.pages[res.name].Execute(&buf, layout{Title: res.title, Body: res.data}); err != nil {
			h.opts.Logger.ErrorContext(r.Context(), "web: render", "page", res.name, "err", err)
			http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if res.status != 0 {
			w.WriteHeader(res.status)
		}
		_, _ = w.Write(buf.Bytes())
	}))
}

func (h *Handler) status(ctx context.Context, err error) (int, string) {
	if h.opts.Status != nil {
		return h.opts.Status(ctx, err)
	}
	h.opts.Logger.ErrorContext(ctx, "web: internal error", "err", err)
	return http.StatusInternalServerError, "internal error"
}

type layout struct {
	Title string
	Body  any
}

type errorPage struct {
	Code    int
	Status  string
	Message string
	Query   string
}

func (h *Handler) index(r *http.Request) result {
	return result{name: "index", title: "trustd"}
}

// search takes any digest form trustd knows (OCI alg:hex, a multibase
// multihash, a bare sha256 hex) and redirects to its page, canonical.
func (h *Handler) search(r *http.Request) result {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	d, err := ParseQuery(q)
	if err != nil {
		return result{status: http.StatusBadRequest, err: err}
	}
	return result{redirect: "/d/" + url.PathEscape(d.String())}
}

// ParseQuery reads a search: an OCI digest (alg:hex), a multihash in any
// multibase, or a bare sha256 hex (64 hex digits). Errors name the input's
// fault as package digest reports it.
func ParseQuery(q string) (digest.Digest, error) {
	if q == "" {
		return digest.Digest{}, errors.New("q: a digest is required (sha256:<hex>, a multibase multihash, or 64 hex digits)")
	}
	if len(q) == 64 && isHex(q) {
		q = "sha256:" + strings.ToLower(q)
	}
	d, err := digest.Parse(q)
	if err != nil {
		return digest.Digest{}, fmt.Errorf("q: %w", err)
	}
	return d, nil
}

func isHex(s string) bool {
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}

var funcs = template.FuncMap{
	"ts": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"esc":   url.PathEscape,
	"short": short,
	"join":  strings.Join,
	// kl pairs a key id with the labels of a page, for the keyl template.
	"kl": func(id string, labels map[string]string) keyLabel { return keyLabel{ID: id, Labels: labels} },
	"claimSource": func(c trustv1.ClaimSource) string {
		switch c {
		case trustv1.ClaimSource_CLAIM_SOURCE_STATEMENT:
			return "statement"
		case trustv1.ClaimSource_CLAIM_SOURCE_TUF_TARGET:
			return "TUF target"
		}
		return "unknown source"
	},
	"axes": func(a ...axisView) []axisView { return a },
	// roles lists a TUF repository's roles: root, timestamp, snapshot,
	// then the targets roles.
	"roles": func(st *trustv1.GetStatusResponse) []*trustv1.TUFRoleStatus {
		var out []*trustv1.TUFRoleStatus
		for _, r := range []*trustv1.TUFRoleStatus{st.GetRoot(), st.GetTimestamp(), st.GetSnapshot()} {
			if r != nil {
				out = append(out, r)
			}
		}
		return append(out, st.GetTargets()...)
	},
	"expired": func(r *trustv1.TUFRoleStatus, now time.Time) bool {
		return r.GetExpires() != nil && r.GetExpires().AsTime().Before(now)
	},
}

// keyLabel is a key id with the labels a page knows.
type keyLabel struct {
	ID     string
	Labels map[string]string
}

// short abbreviates a long id for display (the full id stays in the
// link and title).
func short(s string) string {
	if len(s) <= 20 {
		return s
	}
	return s[:16] + "…"
}
