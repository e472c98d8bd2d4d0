package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Agent resource use is read from /proc, as a user would with ps or top,
// rather than from the agent's own process_* metrics, so a measurement
// does not depend on the agent answering.

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat.
// It is 100 on every Linux architecture Go supports (the kernel fixes it
// for user space regardless of CONFIG_HZ), and reading it with
// sysconf(_SC_CLK_TCK) would need cgo.
const clockTicks = 100

// procSample is one reading of a process.
type procSample struct {
	At     time.Time
	RSSKiB int64 // VmRSS: resident now
	HWMKiB int64 // VmHWM: the peak resident size so far
	// CPU in clock ticks: the process's own threads (utime+stime) and
	// its reaped children, i.e. the hook commands (cutime+cstime).
	Self, Children int64
}

func readProc(pid int) (procSample, error) {
	s := procSample{At: time.Now()}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	if s.RSSKiB, s.HWMKiB, err = parseStatus(string(status)); err != nil {
		return s, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	if s.Self, s.Children, err = parseStat(string(stat)); err != nil {
		return s, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return s, nil
}

// parseStatus reads VmRSS and VmHWM (kB) from /proc/PID/status.
func parseStatus(text string) (rss, hwm int64, err error) {
	found := 0
	for _, line := range strings.Split(text, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			return 0, 0, fmt.Errorf("%s has no value", k)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", k, err)
		}
		if k == "VmRSS" {
			rss = n
		} else {
			hwm = n
		}
		found++
	}
	if found < 2 {
		return 0, 0, fmt.Errorf("no VmRSS and VmHWM lines (a kernel thread or a zombie?)")
	}
	return rss, hwm, nil
}

// parseStat reads utime+stime and cutime+cstime (fields 14–17) from
// /proc/PID/stat. The command name (field 2) is in parentheses and may
// hold spaces or parentheses itself, so fields are counted from the last
// closing parenthesis.
func parseStat(text string) (self, children int64, err error) {
	i := strings.LastIndexByte(text, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("no command name in %q", text)
	}
	f := strings.Fields(text[i+1:])
	// f[0] is field 3 (state), so field k is f[k-3].
	if len(f) < 15 {
		return 0, 0, fmt.Errorf("only %d fields after the command name", len(f))
	}
	var v [4]int64
	for j := range v {
		if v[j], err = strconv.ParseInt(f[11+j], 10, 64); err != nil {
			return 0, 0, fmt.Errorf("field %d: %w", 14+j, err)
		}
	}
	return v[0] + v[1], v[2] + v[3], nil
}

// cpuPercent is the share of one core used between two samples.
func cpuPercent(a, b procSample, children bool) float64 {
	wall := b.At.Sub(a.At).Seconds()
	if wall <= 0 {
		return 0
	}
	ticks := b.Self - a.Self
	if children {
		ticks = b.Children - a.Children
	}
	return 100 * float64(ticks) / clockTicks / wall
}

// promLabeled sums the samples of one metric family by the value of one
// label, from Prometheus text: e.g. ec2ha_ec2_api_calls_total by action.
func promLabeled(text, family, label string) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, hasLabels := strings.Cut(line, "{")
		if !hasLabels {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == family {
				if v, err := strconv.ParseFloat(f[1], 64); err == nil {
					out[""] += v
				}
			}
			continue
		}
		if name != family {
			continue
		}
		labels, value, ok := strings.Cut(rest, "}")
		if !ok {
			continue
		}
		f := strings.Fields(value)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		out[labelValue(labels, label)] += v
	}
	return out
}

// labelValue finds label="value" in a label set; values in the agent's
// metrics (action names, group and node names) hold no quotes or commas.
func labelValue(labels, label string) string {
	for _, kv := range strings.Split(labels, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if ok && k == label {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}
