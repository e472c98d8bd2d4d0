package ec2sim

import (
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// params is a decoded EC2 Query request. EC2 flattens lists and structures
// into dotted keys: InstanceId.1, Filter.2.Value.1, TagSpecification.1.Tag.1.Key.
type params map[string]string

func newParams(v url.Values) params {
	p := make(params, len(v))
	for k, vals := range v {
		if len(vals) > 0 {
			p[k] = vals[0]
		}
	}
	return p
}

func (p params) str(name string) string { return p[name] }

func (p params) required(name string) (string, error) {
	v := p[name]
	if v == "" {
		return "", missing(name)
	}
	return v, nil
}

// list returns prefix.1, prefix.2, ... in index order.
func (p params) list(prefix string) []string {
	type kv struct {
		i int
		v string
	}
	var got []kv
	for k, v := range p {
		rest, ok := strings.CutPrefix(k, prefix+".")
		if !ok {
			continue
		}
		if i, err := strconv.Atoi(rest); err == nil {
			got = append(got, kv{i, v})
		}
	}
	sort.Slice(got, func(a, b int) bool { return got[a].i < got[b].i })
	out := make([]string, len(got))
	for i, g := range got {
		out[i] = g.v
	}
	return out
}

// structs returns the members of a list of structures, each with its keys
// relative to prefix.N.
func (p params) structs(prefix string) []params {
	byIndex := map[int]params{}
	for k, v := range p {
		rest, ok := strings.CutPrefix(k, prefix+".")
		if !ok {
			continue
		}
		idx, field, ok := strings.Cut(rest, ".")
		if !ok {
			continue
		}
		i, err := strconv.Atoi(idx)
		if err != nil {
			continue
		}
		if byIndex[i] == nil {
			byIndex[i] = params{}
		}
		byIndex[i][field] = v
	}
	idx := make([]int, 0, len(byIndex))
	for i := range byIndex {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	out := make([]params, len(idx))
	for n, i := range idx {
		out[n] = byIndex[i]
	}
	return out
}

// sub returns the members of one nested structure, keys relative to prefix.
func (p params) sub(prefix string) params {
	out := params{}
	for k, v := range p {
		if rest, ok := strings.CutPrefix(k, prefix+"."); ok {
			out[rest] = v
		}
	}
	return out
}

func (p params) boolean(name string) (bool, error) {
	v, ok := p[name]
	if !ok || v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, invalidValue(name, v, "Expected true or false.")
	}
	return b, nil
}

func (p params) integer(name string, def int) (int, error) {
	v, ok := p[name]
	if !ok || v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, invalidValue(name, v, "Expected an integer.")
	}
	return n, nil
}

// tags reads Tag.N.Key / Tag.N.Value under prefix.
func (p params) tags(prefix string) ([]Tag, error) {
	var out []Tag
	for _, t := range p.structs(prefix) {
		if t["Key"] == "" {
			return nil, missing(prefix + ".N.Key")
		}
		out = append(out, Tag{Key: t["Key"], Value: t["Value"]})
	}
	return out, nil
}

// tagSpecs reads TagSpecification.N into resource type -> tags.
func (p params) tagSpecs(prefix string) (map[string][]Tag, error) {
	out := map[string][]Tag{}
	for _, s := range p.structs(prefix) {
		rt := s["ResourceType"]
		if rt == "" {
			return nil, missing(prefix + ".N.ResourceType")
		}
		tags, err := s.tags("Tag")
		if err != nil {
			return nil, err
		}
		out[rt] = append(out[rt], tags...)
	}
	return out, nil
}
