package ec2sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// The admin API, beside the EC2 API on the same listener:
//
//	GET  /admin/faults                      the faults in force (JSON)
//	PUT  /admin/faults                      replace them (same JSON)
//	POST /admin/instances/{id}/machine-gone ?gone=false to bring it back
//	GET  /admin/events                      newline-delimited JSON events, streamed
//	GET  /admin/imds                        instance id -> IMDS endpoint
//	GET  /admin/world                       the whole world, as --state saves it
func (s *Sim) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/faults", func(rw http.ResponseWriter, _ *http.Request) {
		writeJSON(rw, s.Faults())
	})
	mux.HandleFunc("PUT /admin/faults", func(rw http.ResponseWriter, r *http.Request) {
		var f Faults
		if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
			http.Error(rw, "faults: "+err.Error(), http.StatusBadRequest)
			return
		}
		if err := s.SetFaults(f); err != nil {
			http.Error(rw, "faults: "+err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(rw, s.Faults())
	})
	mux.HandleFunc("POST /admin/instances/{id}/machine-gone", func(rw http.ResponseWriter, r *http.Request) {
		gone := true
		if v := r.URL.Query().Get("gone"); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				http.Error(rw, "gone must be true or false", http.StatusBadRequest)
				return
			}
			gone = b
		}
		if err := s.SetMachineGone(r.PathValue("id"), gone); err != nil {
			http.Error(rw, err.Error(), http.StatusNotFound)
			return
		}
		rw.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /admin/events", s.streamEvents)
	mux.HandleFunc("GET /admin/imds", func(rw http.ResponseWriter, _ *http.Request) {
		writeJSON(rw, s.imds.all())
	})
	mux.HandleFunc("GET /admin/world", func(rw http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		b, err := json.MarshalIndent(s.w, "", " ")
		s.mu.Unlock()
		if err != nil {
			http.Error(rw, err.Error(), http.StatusInternalServerError)
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		_, _ = rw.Write(b)
	})
	return mux
}

func writeJSON(rw http.ResponseWriter, v any) {
	rw.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(rw).Encode(v)
}

// streamEvents sends every event from now on, one JSON object a line. A
// reader too slow to keep 4096 events buffered is cut off rather than
// allowed to stall the simulator; it sees the stream end and reconnects.
func (s *Sim) streamEvents(rw http.ResponseWriter, r *http.Request) {
	fl, ok := rw.(http.Flusher)
	if !ok {
		http.Error(rw, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	ch := make(chan Event, 4096)
	overflow := make(chan struct{})
	var closed bool
	cancel := s.OnEvent(func(e Event) {
		if closed {
			return
		}
		select {
		case ch <- e:
		default:
			closed = true
			close(overflow)
		}
	})
	defer cancel()
	rw.Header().Set("Content-Type", "application/x-ndjson")
	rw.WriteHeader(http.StatusOK)
	fl.Flush()
	enc := json.NewEncoder(rw)
	for {
		select {
		case e := <-ch:
			if err := enc.Encode(e); err != nil {
				return
			}
			fl.Flush()
		case <-overflow:
			fmt.Fprintln(rw, `{"type":"overflow"}`)
			return
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		}
	}
}
