//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// row is one scenario's line in the report.
type row struct {
	scenario  string
	ok        bool
	downtime  time.Duration // longest gap the client saw on the service address
	detection time.Duration // fault → first agent records the member failed
	fence     time.Duration // EC2: fence requested → stopped
	move      time.Duration // EC2: stopped → last address moved
	answered  []string      // nodes that answered on the service address
}

var report struct {
	mu   sync.Mutex
	rows []row
}

func record(r row) {
	report.mu.Lock()
	report.rows = append(report.rows, r)
	report.mu.Unlock()
}

// writeReport prints the rows as a Markdown table, and writes it to
// E2E_REPORT when that names a file.
func writeReport() {
	report.mu.Lock()
	defer report.mu.Unlock()
	if len(report.rows) == 0 {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# ec2ha end-to-end report\n\n")
	fmt.Fprintf(&b, "Written by `make e2e` on %s. Each row is one scenario on real agents in network namespaces against the embedded EC2 simulator (instance transitions 500 ms); times are measured from outside the agents: the client's probes every %s, the simulator's events, and the first `member-failed` in the agents' history.\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"), probeEvery)
	fmt.Fprintf(&b, "| scenario | outcome | client downtime | detection | fence | moves | answered on the service address |\n|---|---|---|---|---|---|---|\n")
	campaign := map[string][]row{}
	var kinds []string
	for _, r := range report.rows {
		if kind, ok := strings.CutPrefix(r.scenario, "campaign: "); ok {
			if campaign[kind] == nil {
				kinds = append(kinds, kind)
			}
			campaign[kind] = append(campaign[kind], r)
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", r.scenario, outcome(r.ok), ms(r.downtime), ms(r.detection), ms(r.fence), ms(r.move), strings.Join(r.answered, ", "))
	}
	if len(kinds) > 0 {
		fmt.Fprintf(&b, "\nRandomised campaign: one fault per seed on one long-lived cluster, the invariants checked over the whole run after each. Medians (and worst) over the seeds of each kind:\n\n")
		fmt.Fprintf(&b, "| fault | seeds | passed | client downtime | detection | fence | moves |\n|---|---|---|---|---|---|---|\n")
		for _, k := range kinds {
			rs := campaign[k]
			passed := 0
			for _, r := range rs {
				if r.ok {
					passed++
				}
			}
			fmt.Fprintf(&b, "| %s | %d | %d | %s | %s | %s | %s |\n", k, len(rs), passed,
				spread(rs, func(r row) time.Duration { return r.downtime }), spread(rs, func(r row) time.Duration { return r.detection }),
				spread(rs, func(r row) time.Duration { return r.fence }), spread(rs, func(r row) time.Duration { return r.move }))
		}
	}
	fmt.Print("\n" + b.String())
	if path := os.Getenv("E2E_REPORT"); path != "" {
		_ = os.WriteFile(path, []byte(b.String()), 0o644)
	}
}

func outcome(ok bool) string {
	if ok {
		return "pass"
	}
	return "**FAIL**"
}

// spread is the median and the worst of the rows' non-zero values.
func spread(rs []row, f func(row) time.Duration) string {
	var ds []time.Duration
	for _, r := range rs {
		if d := f(r); d > 0 {
			ds = append(ds, d)
		}
	}
	if len(ds) == 0 {
		return "–"
	}
	slices.Sort(ds)
	return fmt.Sprintf("%s (%s)", ms(ds[len(ds)/2]), ms(ds[len(ds)-1]))
}

func ms(d time.Duration) string {
	if d == 0 {
		return "–"
	}
	return fmt.Sprintf("%d ms", d.Milliseconds())
}
