package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/ec2ha/ec2ha/internal/api"
	"github.com/ec2ha/ec2ha/internal/config"
	"github.com/ec2ha/ec2ha/internal/metrics"
)

// servers are the agent's HTTP listeners: the control API on its Unix
// socket (and optionally TCP), and Prometheus metrics with /healthz and
// /readyz for load balancers.
type servers struct {
	http []*http.Server
	log  *slog.Logger
}

func startServers(cfg *config.Config, backend api.Backend, m *metrics.Agent, log *slog.Logger) (*servers, error) {
	s := &servers{log: log}
	start := func(l net.Listener, h http.Handler, what string) {
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		s.http = append(s.http, srv)
		go func() {
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("server stopped", "server", what, "err", err)
			}
		}()
		log.Info("listening", "server", what, "address", l.Addr().String())
	}
	if cfg.API.Socket != "" {
		l, err := api.ListenUnix(cfg.API.Socket)
		if err != nil {
			return nil, fmt.Errorf("api.socket: %w", err)
		}
		start(l, api.Handler(backend, "", log), "api")
	}
	if cfg.API.Listen != "" {
		token, err := config.ReadSecretFile(cfg.API.TokenFile)
		if err != nil {
			s.close(context.Background())
			return nil, fmt.Errorf("api.token_file %s %v: the TCP API needs a non-empty token file only root can read (chmod 0600 %s)", cfg.API.TokenFile, err, cfg.API.TokenFile)
		}
		l, err := net.Listen("tcp", cfg.API.Listen)
		if err != nil {
			s.close(context.Background())
			return nil, fmt.Errorf("api.listen: %w", err)
		}
		start(l, api.Handler(backend, strings.TrimSpace(string(token)), log), "api-tcp")
	}
	if cfg.Metrics.Listen != "" {
		l, err := net.Listen("tcp", cfg.Metrics.Listen)
		if err != nil {
			s.close(context.Background())
			return nil, fmt.Errorf("metrics.listen: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", m.Handler())
		// The same health endpoints as the API, reachable by a load
		// balancer that cannot use the socket.
		probes := api.Handler(backend, "", log)
		mux.Handle("GET /healthz", probes)
		mux.Handle("GET /readyz", probes)
		start(l, mux, "metrics")
	}
	return s, nil
}

func (s *servers) close(ctx context.Context) {
	for _, srv := range s.http {
		_ = srv.Shutdown(ctx)
	}
}
