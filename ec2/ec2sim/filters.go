package ec2sim

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

type filter struct {
	name   string
	values []string
}

// filterFields maps each filter name a Describe call supports to the
// values an item has for it. tag:KEY, tag-key and tag-value are common to
// all and handled by applyFilters.
type filterFields[T any] map[string]func(T) []string

func (o *op) filters() ([]filter, error) {
	var out []filter
	for _, f := range o.p.structs("Filter") {
		name := f["Name"]
		if name == "" {
			return nil, missing("Filter.N.Name")
		}
		out = append(out, filter{name: name, values: f.list("Value")})
	}
	return out, nil
}

// applyFilters keeps the items matching every filter; within a filter any
// value may match, and values may use the * and ? wildcards.
func applyFilters[T any](o *op, fields filterFields[T], all []T, tagsOf func(T) map[string]string) ([]T, error) {
	fs, err := o.filters()
	if err != nil {
		return nil, err
	}
	for _, f := range fs {
		if _, ok := fields[f.name]; !ok && !strings.HasPrefix(f.name, "tag:") && f.name != "tag-key" && f.name != "tag-value" {
			return nil, clientErr("InvalidParameterValue", "The filter '%s' is invalid", f.name)
		}
	}
	if len(fs) == 0 {
		return all, nil
	}
	out := all[:0:0]
	for _, item := range all {
		ok := true
		for _, f := range fs {
			var have []string
			switch {
			case strings.HasPrefix(f.name, "tag:"):
				if v, found := tagsOf(item)[f.name[4:]]; found {
					have = []string{v}
				}
			case f.name == "tag-key":
				for k := range tagsOf(item) {
					have = append(have, k)
				}
			case f.name == "tag-value":
				for _, v := range tagsOf(item) {
					have = append(have, v)
				}
			default:
				have = fields[f.name](item)
			}
			if !anyMatch(f.values, have) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, item)
		}
	}
	return out, nil
}

func anyMatch(patterns, have []string) bool {
	for _, p := range patterns {
		for _, h := range have {
			if glob(p, h) {
				return true
			}
		}
	}
	return false
}

// glob matches EC2 filter wildcards: * any run, ? one character.
func glob(pattern, s string) bool {
	if !strings.ContainsAny(pattern, "*?") {
		return pattern == s
	}
	for len(pattern) > 0 {
		switch pattern[0] {
		case '*':
			for i := len(s); i >= 0; i-- {
				if glob(pattern[1:], s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
			pattern, s = pattern[1:], s[1:]
		default:
			if s == "" || s[0] != pattern[0] {
				return false
			}
			pattern, s = pattern[1:], s[1:]
		}
	}
	return s == ""
}

// paginate applies MaxResults/NextToken. Without MaxResults every item is
// returned, as EC2 does. The token is the offset of the next page, bound to
// the action so a token from one call is refused by another.
func paginate[T any](o *op, action string, all []T, lo, hi int) ([]T, string, error) {
	max, err := o.p.integer("MaxResults", 0)
	if err != nil {
		return nil, "", err
	}
	_, hasMax := o.p["MaxResults"]
	if hasMax && (max < lo || max > hi) {
		return nil, "", invalidValue("MaxResults", strconv.Itoa(max), fmt.Sprintf("Expected a value between %d and %d.", lo, hi))
	}
	start := 0
	if tok := o.p.str("NextToken"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		prefix, num, ok := strings.Cut(string(b), ":")
		n, convErr := strconv.Atoi(num)
		if err != nil || !ok || prefix != action || convErr != nil || n < 0 {
			return nil, "", clientErr("InvalidPaginationToken", "The specified pagination token is not valid or is expired.")
		}
		start = min(n, len(all))
	}
	if !hasMax && o.p.str("NextToken") == "" {
		return all, "", nil
	}
	if !hasMax {
		max = hi
	}
	end := min(start+max, len(all))
	next := ""
	if end < len(all) {
		next = base64.RawURLEncoding.EncodeToString([]byte(action + ":" + strconv.Itoa(end)))
	}
	return all[start:end], next, nil
}

func one(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}
