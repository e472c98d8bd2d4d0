// Package sdnotify tells systemd about the agent's state (Type=notify):
// READY=1 once it has joined and knows its quorum, STATUS= lines that
// `systemctl status` shows, and STOPPING=1 while it hands over.
package sdnotify
