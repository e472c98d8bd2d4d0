package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// goBench is one `go test -bench` invocation whose output is kept as raw
// data and parsed into samples.
type goBench struct {
	File      string // under the data directory
	Pkg       string
	Pattern   string
	Benchtime string
	Count     int
	Extra     []string
	// Bound, if set, runs the compiled test binary directly and stops it
	// after Bound: SIGQUIT (its goroutine dump goes into the data file),
	// then SIGKILL. go test's own -timeout does not bound benchmarks
	// (testing stops its alarm before running them), so a hung benchmark
	// would otherwise run until it finishes.
	Bound time.Duration
}

func (g goBench) args() []string {
	a := []string{"test", "-run", "^$", "-bench", g.Pattern, "-benchtime", g.Benchtime, "-count", strconv.Itoa(g.Count)}
	a = append(a, g.Extra...)
	return append(a, g.Pkg)
}

func (g goBench) command() string {
	var q []string
	for _, a := range g.args() {
		if strings.ContainsAny(a, "^$|()* ") {
			a = "'" + a + "'"
		}
		q = append(q, a)
	}
	c := "go " + strings.Join(q, " ")
	if g.Bound > 0 {
		c += fmt.Sprintf(" (run as the compiled test binary, stopped after %v)", g.Bound)
	}
	return c
}

// benchResults maps a benchmark name (GOMAXPROCS suffix removed) to its
// samples per unit, one sample per -count run.
type benchResults map[string]map[string][]float64

var procSuffix = regexp.MustCompile(`-\d+$`)

// parseBench reads the standard benchmark output format: a name, the
// iteration count, then value/unit pairs.
func parseBench(out []byte) benchResults {
	res := benchResults{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			continue
		}
		name := procSuffix.ReplaceAllString(f[0], "")
		if res[name] == nil {
			res[name] = map[string][]float64{}
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			res[name][f[i+1]] = append(res[name][f[i+1]], v)
		}
	}
	return res
}

// usage is what a finished `go test` and the test binary it ran used:
// wait4 reports a child's own CPU time plus that of the children it
// reaped, and the largest resident size among them.
type usage struct {
	CPU       time.Duration
	MaxRSSMiB float64
}

func usageOf(ps *os.ProcessState) usage {
	if ps == nil {
		return usage{}
	}
	u := usage{CPU: ps.UserTime() + ps.SystemTime()}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		u.MaxRSSMiB = float64(ru.Maxrss) / 1024 // KiB on Linux
	}
	return u
}

// runUsage executes the benchmark, writes its output to the data
// directory and returns the parsed samples, the wall time, its CPU and
// memory use, and any error (the output is kept on failure too).
func (g goBench) runUsage(dataDir string) (benchResults, time.Duration, usage, error) {
	cmd := exec.Command("go", g.args()...)
	var buf bytes.Buffer
	if g.Bound > 0 {
		bin, cleanup, err := g.compile()
		if err != nil {
			return nil, 0, usage{}, err
		}
		defer cleanup()
		cmd = exec.Command(bin, g.binaryArgs()...)
		cmd.Dir = g.Pkg // go test runs a test binary in its package's directory
	}
	cmd.Stdout, cmd.Stderr = &buf, &buf
	start := time.Now()
	err := cmd.Start()
	if err == nil {
		err = g.wait(cmd)
	}
	took := time.Since(start)
	u := usageOf(cmd.ProcessState)
	if werr := os.WriteFile(filepath.Join(dataDir, g.File), buf.Bytes(), 0o644); werr != nil && err == nil {
		err = werr
	}
	if err != nil && g.Bound > 0 && strings.HasPrefix(err.Error(), "stopped after") {
		err = fmt.Errorf("%s: %v", g.command(), err) // the tail would be the goroutine dump
	} else if err != nil {
		tail := buf.String()
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		err = fmt.Errorf("%s: %v\n%s", g.command(), err, tail)
	}
	return parseBench(buf.Bytes()), took, u, err
}

// compile builds the package's test binary into a temporary directory.
func (g goBench) compile() (string, func(), error) {
	dir, err := os.MkdirTemp("", "ec2ha-bench-test-")
	if err != nil {
		return "", nil, err
	}
	bin := filepath.Join(dir, filepath.Base(g.Pkg)+".test")
	if out, err := exec.Command("go", "test", "-c", "-o", bin, g.Pkg).CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("go test -c %s: %v: %s", g.Pkg, err, out)
	}
	if abs, err := filepath.Abs(bin); err == nil {
		bin = abs
	}
	return bin, func() { os.RemoveAll(dir) }, nil
}

// binaryArgs are args() in the test binary's own -test.* spelling.
func (g goBench) binaryArgs() []string {
	a := []string{"-test.run", "^$", "-test.bench", g.Pattern, "-test.benchtime", g.Benchtime, "-test.count", strconv.Itoa(g.Count)}
	for i := 0; i < len(g.Extra); i++ {
		if strings.HasPrefix(g.Extra[i], "-") && !strings.HasPrefix(g.Extra[i], "-test.") {
			a = append(a, "-test."+strings.TrimPrefix(g.Extra[i], "-"))
		} else {
			a = append(a, g.Extra[i])
		}
	}
	return a
}

// wait waits for the benchmark, or for Bound to pass.
func (g goBench) wait(cmd *exec.Cmd) error {
	if g.Bound <= 0 {
		return cmd.Wait()
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(g.Bound):
	}
	_ = cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	return fmt.Errorf("stopped after the %v bound (SIGQUIT; goroutine dump in the data file)", g.Bound)
}
