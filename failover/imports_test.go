package failover

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// TestNoIO holds the engine to its promise of no I/O: none of its
// dependencies may be a network, process, AWS, gossip or configuration
// package.
func TestNoIO(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkg struct{ Deps []string }
	if err := json.Unmarshal(out, &pkg); err != nil {
		t.Fatal(err)
	}
	if len(pkg.Deps) == 0 {
		t.Fatal("go list reported no dependencies at all; the check would pass vacuously")
	}
	for _, d := range pkg.Deps {
		if d == "net" || strings.HasPrefix(d, "net/") || d == "os/exec" ||
			strings.HasPrefix(d, "github.com/aws/") || strings.HasPrefix(d, "github.com/hashicorp/memberlist") ||
			strings.HasPrefix(d, "github.com/spf13/viper") {
			t.Errorf("failover depends on %s, which does I/O; effects belong at the edge", d)
		}
	}
}
