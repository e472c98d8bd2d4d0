// Package logging sets up log/slog for ec2ha: text on a terminal, JSON
// under systemd (JOURNAL_STREAM set), and secrets redacted whatever the
// caller logs: attributes whose keys name a key, token, secret, password
// or credential are replaced, while *_file paths stay readable.
package logging
