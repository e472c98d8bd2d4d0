package membership

import (
	"context"
	"log/slog"
	"strings"
)

// logWriter turns memberlist's "[LEVEL] memberlist: text" lines into slog
// records, and counts the lines that are the only signal memberlist gives
// for failed probes and rejected traffic.
type logWriter struct{ n *Node }

func (w *logWriter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	level := slog.LevelInfo
	for prefix, l := range map[string]slog.Level{"[DEBUG]": slog.LevelDebug, "[INFO]": slog.LevelInfo, "[WARN]": slog.LevelWarn, "[ERR]": slog.LevelError} {
		if strings.HasPrefix(line, prefix) {
			level = l
			line = strings.TrimSpace(strings.TrimPrefix(line, prefix))
			break
		}
	}
	line = strings.TrimPrefix(line, "memberlist: ")
	switch {
	case strings.Contains(line, "has failed, no acks received"):
		w.n.stats.probeFailures.Add(1)
	case strings.Contains(line, "unacceptable label"), strings.Contains(line, "decrypt"), strings.Contains(line, "No installed keys"):
		// Traffic from another cluster or with a key we do not hold.
		w.n.stats.rejected.Add(1)
		w.n.log.Warn("gossip rejected: wrong cluster label or gossip key", "detail", line)
		return len(p), nil
	}
	w.n.log.Log(context.Background(), level, line, "source", "memberlist")
	return len(p), nil
}
