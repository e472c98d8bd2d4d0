package ec2sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// loadWorld reads a state file; a missing file is not an error.
func loadWorld(path string) (*world, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading simulator state: %w", err)
	}
	var w world
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("simulator state %s is not valid JSON (%v); move it aside to start from a fresh world", path, err)
	}
	if w.Instances == nil || w.Subnets == nil {
		return nil, fmt.Errorf("simulator state %s has no world in it; move it aside to start from a fresh world", path)
	}
	return &w, nil
}

// saveWorld writes the world atomically: a crash leaves the old or the new
// file, never half of one.
func saveWorld(path string, w *world) error {
	b, err := json.MarshalIndent(w, "", " ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// clone deep-copies the world through its JSON form, the same form the
// state file uses, so a field that does not persist would show up here too.
func (w *world) clone() *world {
	b, err := json.Marshal(w)
	if err != nil {
		panic(fmt.Sprintf("ec2sim: world does not marshal: %v", err))
	}
	var c world
	if err := json.Unmarshal(b, &c); err != nil {
		panic(fmt.Sprintf("ec2sim: world does not unmarshal: %v", err))
	}
	return &c
}
