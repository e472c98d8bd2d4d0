package sdnotify

import (
	"net"
	"os"
)

// Notify sends state to the socket in $NOTIFY_SOCKET. It is a no-op, and
// returns false, when the agent was not started by systemd.
func Notify(state string) (bool, error) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return false, nil
	}
	if path[0] == '@' { // abstract socket
		path = "\x00" + path[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return false, err
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return false, err
	}
	return true, nil
}

// Ready, Stopping and Status are the messages the agent sends.
func Ready() (bool, error)             { return Notify("READY=1") }
func Stopping() (bool, error)          { return Notify("STOPPING=1") }
func Status(text string) (bool, error) { return Notify("STATUS=" + text) }
