package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Backend is what the agent provides to the API.
type Backend interface {
	Status(ctx context.Context) (Status, error)
	// History returns events with Seq > after, oldest first, at most limit.
	History(ctx context.Context, after uint64, limit int) ([]Event, error)
	SetStandby(ctx context.Context, node string, standby bool) error
	SetMaintenance(ctx context.Context, on bool) error
	Move(ctx context.Context, group string, req MoveRequest) (MoveTicket, error)
	Fence(ctx context.Context, node string) (FenceResult, error)
	// Unfence starts a fenced node's stopped instance again.
	Unfence(ctx context.Context, node string) (FenceResult, error)
	Keyring(ctx context.Context, req KeyringRequest) (KeyringResponse, error)
	// Ready reports whether the agent has joined and knows its quorum.
	Ready() error
}

// NotFoundError marks an unknown node or group; it is answered with 404.
type NotFoundError struct{ What string }

func (e NotFoundError) Error() string { return e.What + " not found" }

// ConflictError marks a request the cluster cannot carry out now (no
// quorum, maintenance on, target not eligible); it is answered with 409.
type ConflictError struct{ Reason string }

func (e ConflictError) Error() string { return e.Reason }

// Handler serves the /v1 API and /healthz, /readyz from b. When token is
// not empty every /v1 request must carry it as a bearer token.
func Handler(b Backend, token string, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	h := &handler{b: b, log: log}
	mux.HandleFunc("GET /v1/status", h.status)
	mux.HandleFunc("GET /v1/members", h.members)
	mux.HandleFunc("GET /v1/groups", h.groups)
	mux.HandleFunc("GET /v1/history", h.history)
	mux.HandleFunc("POST /v1/nodes/{node}/standby", h.standby(true))
	mux.HandleFunc("POST /v1/nodes/{node}/unstandby", h.standby(false))
	mux.HandleFunc("POST /v1/nodes/{node}/fence", h.fence)
	mux.HandleFunc("POST /v1/nodes/{node}/unfence", h.unfence)
	mux.HandleFunc("POST /v1/maintenance/{state}", h.maintenance)
	mux.HandleFunc("POST /v1/groups/{group}/move", h.move)
	mux.HandleFunc("POST /v1/keyring", h.keyring)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := b.Ready(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	if token == "" {
		return mux
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
			if subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
				writeJSON(w, http.StatusUnauthorized, Error{"missing or wrong bearer token"})
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
}

type handler struct {
	b   Backend
	log *slog.Logger
}

func (h *handler) status(w http.ResponseWriter, r *http.Request) {
	st, err := h.b.Status(r.Context())
	h.reply(w, st, err)
}

func (h *handler) members(w http.ResponseWriter, r *http.Request) {
	st, err := h.b.Status(r.Context())
	h.reply(w, st.Members, err)
}

func (h *handler) groups(w http.ResponseWriter, r *http.Request) {
	st, err := h.b.Status(r.Context())
	h.reply(w, st.Groups, err)
}

func (h *handler) history(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	after, _ := strconv.ParseUint(q.Get("after"), 10, 64)
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil || limit <= 0 {
		limit = 100
	}
	events, err := h.b.History(r.Context(), after, limit)
	h.reply(w, events, err)
}

func (h *handler) standby(on bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := h.b.SetStandby(r.Context(), r.PathValue("node"), on)
		h.reply(w, map[string]bool{"standby": on}, err)
	}
}

func (h *handler) maintenance(w http.ResponseWriter, r *http.Request) {
	var on bool
	switch r.PathValue("state") {
	case "on":
		on = true
	case "off":
	default:
		writeJSON(w, http.StatusBadRequest, Error{"maintenance state must be on or off"})
		return
	}
	h.reply(w, map[string]bool{"maintenance": on}, h.b.SetMaintenance(r.Context(), on))
}

func (h *handler) move(w http.ResponseWriter, r *http.Request) {
	var req MoveRequest
	if !decode(w, r, &req) {
		return
	}
	ticket, err := h.b.Move(r.Context(), r.PathValue("group"), req)
	h.reply(w, ticket, err)
}

func (h *handler) fence(w http.ResponseWriter, r *http.Request) {
	res, err := h.b.Fence(r.Context(), r.PathValue("node"))
	h.reply(w, res, err)
}

func (h *handler) unfence(w http.ResponseWriter, r *http.Request) {
	res, err := h.b.Unfence(r.Context(), r.PathValue("node"))
	h.reply(w, res, err)
}

func (h *handler) keyring(w http.ResponseWriter, r *http.Request) {
	var req KeyringRequest
	if !decode(w, r, &req) {
		return
	}
	res, err := h.b.Keyring(r.Context(), req)
	h.reply(w, res, err)
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if r.ContentLength == 0 {
		return true
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, Error{"request body is not valid JSON: " + err.Error()})
		return false
	}
	return true
}

func (h *handler) reply(w http.ResponseWriter, v any, err error) {
	var nf NotFoundError
	var conflict ConflictError
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, v)
	case errors.As(err, &nf):
		writeJSON(w, http.StatusNotFound, Error{err.Error()})
	case errors.As(err, &conflict):
		writeJSON(w, http.StatusConflict, Error{err.Error()})
	default:
		h.log.Warn("api request failed", "err", err)
		writeJSON(w, http.StatusInternalServerError, Error{err.Error()})
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// ListenUnix listens on a Unix socket at path with mode 0600, replacing a
// stale socket left by an agent that died, but refusing to take over one
// that a running agent still answers on.
func ListenUnix(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("%s: another agent is already serving on this socket", path)
	}
	_ = os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}
