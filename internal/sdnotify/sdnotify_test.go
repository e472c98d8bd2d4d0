package sdnotify

import (
	"net"
	"path/filepath"
	"testing"
)

func TestNotifyReachesSystemdsSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", path)
	if sent, err := Ready(); !sent || err != nil {
		t.Fatalf("Ready: sent=%v err=%v", sent, err)
	}
	buf := make([]byte, 64)
	n, _ := conn.Read(buf)
	if string(buf[:n]) != "READY=1" {
		t.Fatalf("systemd received %q", buf[:n])
	}
}

func TestNotifyOutsideSystemdDoesNothing(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if sent, err := Status("joining"); sent || err != nil {
		t.Fatalf("without NOTIFY_SOCKET: sent=%v err=%v", sent, err)
	}
}
