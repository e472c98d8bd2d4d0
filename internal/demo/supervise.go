package demo

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Proc is one child process of the demo: an agent or an application. It
// runs in its own process group, so a kill reaches whatever it started
// (hook commands included), with its output in its own log file.
type Proc struct {
	Name string // e.g. "node-1/agent"
	Log  string // path of its log file

	cmd  *exec.Cmd
	done chan struct{}
	err  error // set before done closes
}

// Start runs argv with env (the whole environment) and stdout and stderr
// appended to logPath.
func Start(name string, argv, env []string, logPath string) (*Proc, error) {
	if len(argv) == 0 {
		return nil, errors.New("demo: no command")
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("demo: log file for %s: %w", name, err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("demo: starting %s: %w", name, err)
	}
	p := &Proc{Name: name, Log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

// Pid is the child's process id (and its process group's).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Err is how the process ended (nil for exit status 0); valid once Done
// is closed.
func (p *Proc) Err() error {
	<-p.done
	return p.err
}

// Done is closed when the process has exited and been reaped.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Alive reports whether the process has not exited yet.
func (p *Proc) Alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// signal sends sig to the process group, then to the process itself in
// case it left the group.
func (p *Proc) signal(sig syscall.Signal) {
	if !p.Alive() {
		return
	}
	_ = syscall.Kill(-p.Pid(), sig)
	_ = syscall.Kill(p.Pid(), sig)
}

// Kill is the machine losing power: SIGKILL to the whole process group,
// then wait until it is reaped.
func (p *Proc) Kill() {
	p.signal(syscall.SIGKILL)
	<-p.done
}

// Pause freezes the process group with SIGSTOP; Resume continues it.
func (p *Proc) Pause()  { p.signal(syscall.SIGSTOP) }
func (p *Proc) Resume() { p.signal(syscall.SIGCONT) }

// Stop asks the process to leave with SIGTERM (after a SIGCONT, in case
// it was paused) and kills its group if it has not exited within grace.
// It reports whether the process exited by itself.
func (p *Proc) Stop(grace time.Duration) bool {
	if !p.Alive() {
		return true
	}
	p.signal(syscall.SIGCONT)
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
		// The leader is gone; make sure nothing it started lingers.
		_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
		return true
	case <-time.After(grace):
		p.Kill()
		return false
	}
}

// Supervisor owns every child process of a demo, so that whatever
// happens, StopAll leaves nothing running.
type Supervisor struct {
	mu    sync.Mutex
	procs []*Proc
}

// Start starts a child and keeps it for StopAll.
func (s *Supervisor) Start(name string, argv, env []string, logPath string) (*Proc, error) {
	p, err := Start(name, argv, env, logPath)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	return p, nil
}

// Running lists the children that have not exited.
func (s *Supervisor) Running() []*Proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Proc
	for _, p := range s.procs {
		if p.Alive() {
			out = append(out, p)
		}
	}
	return out
}

// StopAll stops every child in parallel (SIGTERM, then SIGKILL after
// grace) and returns the names of those that had to be killed.
func (s *Supervisor) StopAll(grace time.Duration) (killed []string) {
	procs := s.Running()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !p.Stop(grace) {
				mu.Lock()
				killed = append(killed, p.Name)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return killed
}
