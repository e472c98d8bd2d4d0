package logging

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// New returns a logger writing to w at level ("debug", "info", "warn",
// "error") in format ("text", "json" or "auto": JSON when systemd's
// journal is stdout, text otherwise).
func New(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv, ReplaceAttr: redact}
	switch format {
	case "auto", "":
		if os.Getenv("JOURNAL_STREAM") != "" {
			return slog.New(slog.NewJSONHandler(w, opts)), nil
		}
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: use auto, text or json", format)
}

// secretWords mark attribute keys whose values must never reach a log.
var secretWords = []string{"secret", "token", "password", "gossip_key", "keyring", "credential"}

func redact(_ []string, a slog.Attr) slog.Attr {
	k := strings.ToLower(a.Key)
	if k == "key" {
		return slog.String(a.Key, "[redacted]")
	}
	for _, w := range secretWords {
		if strings.Contains(k, w) && !strings.HasSuffix(k, "_file") {
			return slog.String(a.Key, "[redacted]")
		}
	}
	return a
}
