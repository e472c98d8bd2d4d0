package hooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sort"
	"syscall"
	"time"
)

// Kind is which hook runs.
type Kind string

const (
	Start   Kind = "start"
	Stop    Kind = "stop"
	Monitor Kind = "monitor"
)

// Hook is one configured command.
type Hook struct {
	// Command is the program and its arguments; no shell is involved
	// unless the user names one.
	Command []string
	// Timeout kills the command and everything it started; 0 means 60s.
	Timeout time.Duration
}

// Transition describes why a hook runs; it becomes EC2HA_* variables.
type Transition struct {
	Group    string // EC2HA_GROUP
	Kind     Kind   // EC2HA_HOOK
	Node     string // EC2HA_NODE: this instance's id
	From, To string // EC2HA_FROM, EC2HA_TO: previous and new owner ids, if any
	Reason   string // EC2HA_REASON
	Extra    map[string]string
}

// Env returns the variables the hook sees in addition to the agent's own.
func (t Transition) Env() []string {
	env := []string{
		"EC2HA_GROUP=" + t.Group, "EC2HA_HOOK=" + string(t.Kind), "EC2HA_NODE=" + t.Node,
		"EC2HA_FROM=" + t.From, "EC2HA_TO=" + t.To, "EC2HA_REASON=" + t.Reason,
	}
	keys := make([]string, 0, len(t.Extra))
	for k := range t.Extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+t.Extra[k])
	}
	return env
}

// ExitError is returned when the hook ran and failed; Code is its exit
// status (-1 when killed), so a monitor's answer can be told from a
// failure to run it.
type ExitError struct {
	Kind     Kind
	Code     int
	TimedOut bool
}

func (e *ExitError) Error() string {
	if e.TimedOut {
		return fmt.Sprintf("%s hook timed out and was killed", e.Kind)
	}
	return fmt.Sprintf("%s hook exited with status %d", e.Kind, e.Code)
}

// Run runs h for t and logs each line it prints at info (stdout) or warn
// (stderr) level with the group and hook as attributes.
func Run(ctx context.Context, log *slog.Logger, h Hook, t Transition) error {
	if len(h.Command) == 0 {
		return fmt.Errorf("group %s: %s hook has no command; set groups.%s.%s to a program and its arguments", t.Group, t.Kind, t.Group, t.Kind)
	}
	timeout := h.Timeout
	if timeout == 0 {
		timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	cmd := exec.CommandContext(ctx, h.Command[0], h.Command[1:]...)
	cmd.Env = append(os.Environ(), t.Env()...)
	// Own process group, so a timeout kills what a shell script started too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	log = log.With("group", t.Group, "hook", string(t.Kind))
	// Writers rather than pipes: exec's copying stops after WaitDelay even
	// when a child that escaped the process group still holds the output.
	stdout := &lineLogger{log: log, level: slog.LevelInfo, stream: "stdout"}
	stderr := &lineLogger{log: log, level: slog.LevelWarn, stream: "stderr"}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("group %s: starting %s hook %q: %w", t.Group, t.Kind, h.Command[0], err)
	}
	err := cmd.Wait()
	stdout.flush()
	stderr.flush()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return nil
	case ctx.Err() == context.DeadlineExceeded:
		return &ExitError{Kind: t.Kind, Code: -1, TimedOut: true}
	case errors.As(err, &exit):
		return &ExitError{Kind: t.Kind, Code: exit.ExitCode()}
	}
	return fmt.Errorf("group %s: %s hook: %w", t.Group, t.Kind, err)
}

// lineLogger logs each complete line written to it; exec writes from one
// goroutine per stream, so it needs no lock.
type lineLogger struct {
	log    *slog.Logger
	level  slog.Level
	stream string
	buf    []byte
}

// maxLine bounds a line kept in memory; longer ones are logged in pieces.
const maxLine = 64 * 1024

func (l *lineLogger) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 && len(l.buf) < maxLine {
			return len(p), nil
		}
		if i < 0 {
			i = len(l.buf)
		}
		l.log.Log(context.Background(), l.level, string(l.buf[:i]), "stream", l.stream)
		l.buf = l.buf[min(i+1, len(l.buf)):]
	}
}

func (l *lineLogger) flush() {
	if len(l.buf) > 0 {
		l.log.Log(context.Background(), l.level, string(l.buf), "stream", l.stream)
		l.buf = nil
	}
}
