package config

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// YAML renders the effective configuration in the file's own layout, keys
// in schema order and durations as "2s", so an operator can read what the
// agent will run with and paste it back into a file. The configuration
// holds no secrets (only the paths of the files that do), so nothing is
// hidden.
func (c *Config) YAML() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(toNode(reflect.ValueOf(*c))); err != nil {
		return nil, err
	}
	return buf.Bytes(), enc.Close()
}

func toNode(v reflect.Value) *yaml.Node {
	switch v.Kind() {
	case reflect.Struct:
		n := &yaml.Node{Kind: yaml.MappingNode}
		t := v.Type()
		for i := range t.NumField() {
			tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")
			fv := v.Field(i)
			if len(tag) > 1 && tag[1] == "omitempty" && fv.IsZero() {
				continue
			}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: tag[0]}, toNode(fv))
		}
		return n
	case reflect.Slice:
		n := &yaml.Node{Kind: yaml.SequenceNode}
		if v.Type().Elem().Kind() != reflect.Struct {
			n.Style = yaml.FlowStyle
		}
		for i := range v.Len() {
			n.Content = append(n.Content, toNode(v.Index(i)))
		}
		return n
	}
	if d, ok := v.Interface().(time.Duration); ok {
		return &yaml.Node{Kind: yaml.ScalarNode, Value: d.String()}
	}
	n := &yaml.Node{}
	if err := n.Encode(v.Interface()); err != nil {
		return &yaml.Node{Kind: yaml.ScalarNode, Value: fmt.Sprint(v.Interface())}
	}
	return n
}
