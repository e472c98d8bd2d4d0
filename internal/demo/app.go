package demo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

// The protected application: one tiny HTTP service per node, running for
// the whole demo like a web server that is installed everywhere but only
// serves while the cluster has made this node active. The group's start
// hook creates the node's state file, the stop hook removes it, and the
// monitor hook tests it; the service answers 200 while the file exists
// and 503 otherwise.

// AppHandler answers "web active on NODE" while stateFile exists.
func AppHandler(node, stateFile string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Node", node)
		if _, err := os.Stat(stateFile); err != nil {
			http.Error(w, "web standby on "+node, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "web active on %s\n", node)
	})
}

// RunApp serves AppHandler on listen until ctx ends.
func RunApp(ctx context.Context, node, listen, stateFile string) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: AppHandler(node, stateFile), ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err = <-errc:
	case <-ctx.Done():
		shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err = srv.Shutdown(shut)
		cancel()
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Hook commands, the same on every node: each agent is started with
// DEMO_STATE_FILE naming its node's state file, and hooks inherit the
// agent's environment (plus EC2HA_GROUP, EC2HA_NODE and the others).
const (
	StartHook   = `touch "$DEMO_STATE_FILE"`
	StopHook    = `rm -f "$DEMO_STATE_FILE"`
	MonitorHook = `test -f "$DEMO_STATE_FILE"`
)
