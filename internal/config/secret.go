package config

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
)

// KeySize is the length of the gossip keys keygen makes (AES-256).
const KeySize = 32

// maxSecretSize bounds what ReadSecretFile reads: keys and tokens are one
// short line, and a file named by mistake (a log, /proc/kcore) must not be
// read whole.
const maxSecretSize = 64 << 10

// ReadSecretFile reads a file that holds a secret, refusing one that group
// or others may read: a leaked gossip key lets anyone join the cluster.
func ReadSecretFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, errors.New("does not exist")
		}
		return nil, fmt.Errorf("cannot be read: %v", err)
	}
	if st.IsDir() {
		return nil, errors.New("is a directory, not a file")
	}
	// A FIFO or device would block `config validate` (and the agent's
	// start) on a read that never ends, and a huge file is no key.
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("is not a regular file (%s)", st.Mode().Type())
	}
	if st.Size() > maxSecretSize {
		return nil, fmt.Errorf("is %d bytes; a gossip key or API token is a short line", st.Size())
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("has mode %04o, readable by group or others", perm)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot be read: %v", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSecretSize+1))
	if err != nil {
		return nil, fmt.Errorf("cannot be read: %v", err)
	}
	if len(data) > maxSecretSize {
		return nil, fmt.Errorf("holds more than %d bytes; a gossip key or API token is a short line", maxSecretSize)
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, errors.New("is empty")
	}
	return data, nil
}

// ReadKeyFile reads and decodes a gossip key file: base64 of 16, 24 or 32
// bytes (AES-128, -192 or -256, the sizes memberlist accepts).
func ReadKeyFile(path string) ([]byte, error) {
	data, err := ReadSecretFile(path)
	if err != nil {
		return nil, err
	}
	return DecodeKey(data)
}

// DecodeKey decodes a base64 gossip key and checks its length.
func DecodeKey(data []byte) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(data)))
	if err != nil {
		return nil, errors.New("does not hold a base64 key")
	}
	switch len(key) {
	case 16, 24, 32:
		return key, nil
	}
	return nil, fmt.Errorf("holds a key of %d bytes; gossip keys are 16, 24 or 32 bytes", len(key))
}

// NewKey returns a random 32-byte gossip key, base64 encoded.
func NewKey() (string, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(key), nil
}

// WriteKeyFile writes a new key to path with mode 0600, refusing to
// overwrite an existing file so a running cluster's key is never lost.
func WriteKeyFile(path string) error {
	key, err := NewKey()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s already exists; remove it first if you really mean to replace the cluster's key", path)
		}
		return err
	}
	if _, err := fmt.Fprintln(f, key); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}
