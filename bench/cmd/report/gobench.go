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
	return "go " + strings.Join(q, " ")
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

// run executes the benchmark, writes its output to the data directory
// and returns the parsed samples, the wall time and any error (the output
// is kept on failure too).
func (g goBench) run(dataDir string) (benchResults, time.Duration, error) {
	cmd := exec.Command("go", g.args()...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if werr := os.WriteFile(filepath.Join(dataDir, g.File), buf.Bytes(), 0o644); werr != nil && err == nil {
		err = werr
	}
	if err != nil {
		tail := buf.String()
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		err = fmt.Errorf("%s: %v\n%s", g.command(), err, tail)
	}
	return parseBench(buf.Bytes()), took, err
}
