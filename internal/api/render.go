package api

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// RenderStatus prints st on one screen for a person, like `pcs status`.
func RenderStatus(w io.Writer, st Status) {
	fmt.Fprintf(w, "Cluster: %s   (answered by %s, ec2ha %s, %s)\n", st.Cluster, st.Node, st.Version, st.Time.UTC().Format(time.DateTime+" MST"))
	fmt.Fprintf(w, "Quorum:  %s\n", quorumLine(st.Quorum))
	coord := st.Coordinator
	if coord == "" {
		coord = "none"
	}
	fmt.Fprintf(w, "Coordinator: %s\n", coord)
	if st.Maintenance {
		fmt.Fprintln(w, "*** MAINTENANCE MODE: the cluster observes and reports but will not fence or move anything ***")
	}
	fmt.Fprintf(w, "\nMembers (%d):\n", len(st.Members))
	RenderMembers(w, st.Members)
	fmt.Fprintf(w, "\nGroups (%d):\n", len(st.Groups))
	for _, g := range st.Groups {
		line := fmt.Sprintf("  %s: %s", g.Name, strings.ToUpper(g.State))
		if g.Owner != "" {
			line += " on " + g.Owner
		}
		if g.Failovers > 0 {
			line += fmt.Sprintf("   (failovers: %d)", g.Failovers)
		}
		if g.Reason != "" {
			line += "   — " + g.Reason
		}
		fmt.Fprintln(w, line)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, r := range g.Resources {
			holder := r.Holder
			if holder == "" {
				holder = "(nobody)"
			}
			id := r.ID
			if r.Address != "" && r.Address != r.ID {
				id += " (" + r.Address + ")"
			}
			fmt.Fprintf(tw, "      %s\t%s\t-> %s\n", r.Kind, id, holder)
		}
		tw.Flush()
	}
	if len(st.Events) > 0 {
		fmt.Fprintln(w, "\nRecent events:")
		RenderHistory(w, st.Events)
	}
}

func quorumLine(q Quorum) string {
	s := "NO"
	if q.Quorate {
		s = "yes"
	}
	s += fmt.Sprintf(", %d of %d votes (%d needed)", q.Votes, q.Expected, q.Needed)
	if q.TwoNodeRace {
		s += ", two-node mode: a fence would be a race settled by the fencing delay"
	}
	// A quorate partition's reason only repeats the numbers; a
	// non-quorate one says why (wait_for_all, too few votes).
	if q.Reason != "" && !q.Quorate {
		s += " — " + q.Reason
	}
	return s
}

// RenderMembers prints one line per member.
func RenderMembers(w io.Writer, members []Member) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tSTATE\tINSTANCE\tEC2 STATE\tZONE\tADDRESS\tINC\tNOTES")
	for _, m := range members {
		var notes []string
		if m.Standby {
			notes = append(notes, "standby")
		}
		if m.Witness {
			notes = append(notes, "witness")
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", m.Name, strings.ToUpper(m.State), dash(m.InstanceID), dash(m.InstanceState), dash(m.Zone), dash(m.Address), m.Incarnation, strings.Join(notes, ","))
	}
	tw.Flush()
}

// RenderHistory prints one line per event, oldest first. Events from other
// members arrive over separate calls, so the order an agent numbered them
// in is not the order they happened in; people read history by time.
func RenderHistory(w io.Writer, events []Event) {
	events = slices.Clone(events)
	slices.SortStableFunc(events, func(a, b Event) int { return a.Time.Compare(b.Time) })
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, e := range events {
		subject := e.Node
		if e.Group != "" {
			subject = strings.Trim(e.Group+" "+e.Node, " ")
		}
		took := ""
		if e.Duration > 0 {
			took = e.Duration.Round(time.Millisecond).String()
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", e.Time.UTC().Format("15:04:05.000"), e.Kind, dash(subject), dash(e.Outcome), took, e.Message)
	}
	tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
