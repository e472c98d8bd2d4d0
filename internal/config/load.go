package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"gopkg.in/yaml.v3"
)

// EnvPrefix starts every environment variable that sets a key.
const EnvPrefix = "EC2HA"

// Load reads the YAML file at path, applies defaults, then EC2HA_
// environment variables, then the flags that were set on flags (which may
// be nil), and validates the result. On failure the error is a
// *ValidationError listing every problem found, or a plain error when the
// file cannot be read at all.
func Load(path string, flags *pflag.FlagSet) (*Config, error) {
	cfg, err := Read(path, flags)
	if cfg == nil {
		return nil, err
	}
	// Unknown keys and invalid values are reported together.
	var problems []Problem
	var invalid *ValidationError
	if errors.As(err, &invalid) {
		problems = invalid.Problems
	}
	if errors.As(cfg.Validate(), &invalid) {
		problems = append(problems, invalid.Problems...)
	}
	if len(problems) > 0 {
		return cfg, &ValidationError{Problems: problems}
	}
	return cfg, nil
}

// Read is Load without validation, for tools that check a configuration
// away from the instance it is for (see ValidateWithoutFiles).
func Read(path string, flags *pflag.FlagSet) (*Config, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("config file %s does not exist: copy one from examples/ or pass --config FILE", path)
	}
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return load(data, true, flags)
}

// Parse decodes YAML with defaults applied, ignoring the environment and
// flags, and without validating. Unknown keys and values of the wrong type
// are errors; with unknown keys only, the configuration is returned too,
// so that validation can report its other problems in the same run.
func Parse(data []byte) (*Config, error) {
	return load(data, false, nil)
}

func load(data []byte, useEnv bool, flags *pflag.FlagSet) (*Config, error) {
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, &ValidationError{Problems: []Problem{{Key: "(file)", Message: "is not valid YAML: " + err.Error(), Fix: "fix the YAML syntax"}}}
	}
	var unknown []Problem
	checkKeys(raw, reflect.TypeFor[Config](), "", &unknown)

	v := viper.New()
	v.SetConfigType("yaml")
	for key, value := range leafDefaults() {
		v.SetDefault(key, value)
	}
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		return nil, &ValidationError{Problems: []Problem{{Key: "(file)", Message: err.Error(), Fix: "fix the YAML syntax"}}}
	}
	if useEnv {
		v.SetEnvPrefix(EnvPrefix)
		v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
		v.AutomaticEnv()
	}
	if flags != nil {
		// The command's flag set also holds its own flags (--config,
		// --print, ...); bind only those that name a key.
		defaults := leafDefaults()
		flags.VisitAll(func(f *pflag.Flag) {
			if _, ok := defaults[f.Name]; ok {
				_ = v.BindPFlag(f.Name, f)
			}
		})
	}

	cfg := Default()
	err := v.Unmarshal(&cfg, func(dc *mapstructure.DecoderConfig) {
		dc.DecodeHook = mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToTimeDurationHookFunc(),
			mapstructure.StringToSliceHookFunc(","),
		)
	})
	if err != nil {
		return nil, &ValidationError{Problems: decodeProblems(err)}
	}
	for i := range cfg.Groups {
		groupDefaults(&cfg.Groups[i])
	}
	if cfg.Cluster.ExpectedVotes == 0 {
		cfg.Cluster.ExpectedVotes = len(cfg.Nodes)
	}
	if len(unknown) > 0 {
		return &cfg, &ValidationError{Problems: unknown}
	}
	return &cfg, nil
}

// decodeProblems turns mapstructure's joined errors into one problem each.
func decodeProblems(err error) []Problem {
	var out []Problem
	for _, line := range strings.Split(err.Error(), "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "*"))
		if line == "" || strings.HasPrefix(line, "decoding failed") || strings.HasSuffix(line, "error(s) decoding:") {
			continue
		}
		key := "(value)"
		if i := strings.Index(line, "'"); i >= 0 {
			if j := strings.Index(line[i+1:], "'"); j >= 0 {
				key = line[i+1 : i+1+j]
			}
		}
		out = append(out, Problem{Key: key, Message: "has the wrong type: " + line, Fix: "use a value of the documented type (durations like 500ms or 2s)"})
	}
	if len(out) == 0 {
		out = append(out, Problem{Key: "(value)", Message: err.Error()})
	}
	return out
}

// checkKeys reports every key in raw that the schema t does not have, with
// the closest known key as the suggested fix, so a typo is never ignored.
func checkKeys(raw map[string]any, t reflect.Type, prefix string, problems *[]Problem) {
	known := fieldsByKey(t)
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		full := prefix + k
		field, ok := known[k]
		if !ok {
			names := make([]string, 0, len(known))
			for n := range known {
				names = append(names, n)
			}
			fix := "remove it"
			if s := closest(k, names); s != "" {
				fix = fmt.Sprintf("did you mean %q?", prefix+s)
			}
			*problems = append(*problems, Problem{Key: full, Message: "is not a known key", Fix: fix})
			continue
		}
		ft := field.Type
		switch value := raw[k].(type) {
		case map[string]any:
			if ft.Kind() == reflect.Struct {
				checkKeys(value, ft, full+".", problems)
			}
		case []any:
			if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
				for i, item := range value {
					if m, ok := item.(map[string]any); ok {
						checkKeys(m, ft.Elem(), fmt.Sprintf("%s[%d].", full, i), problems)
					}
				}
			}
		}
	}
}

func fieldsByKey(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := range t.NumField() {
		f := t.Field(i)
		if key := f.Tag.Get("mapstructure"); key != "" {
			out[key] = f
		}
	}
	return out
}

// leafDefaults flattens Default() into dotted keys for every scalar and
// string-list field, so viper knows each key (AutomaticEnv only looks up
// keys it knows) and flags can be generated from the same list.
func leafDefaults() map[string]any {
	out := map[string]any{}
	walkLeaves(reflect.ValueOf(Default()), "", func(key string, v reflect.Value) {
		out[key] = v.Interface()
	})
	return out
}

func walkLeaves(v reflect.Value, prefix string, fn func(key string, v reflect.Value)) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		key := prefix + f.Tag.Get("mapstructure")
		fv := v.Field(i)
		switch {
		case f.Type.Kind() == reflect.Struct:
			walkLeaves(fv, key+".", fn)
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() != reflect.String:
			// Lists of structs (nodes, groups, levels) live in the file only.
		default:
			fn(key, fv)
		}
	}
}

// Flags returns a flag for every key that Load can take from a flag:
// --cluster.name, --gossip.bind_port, ... Bind it to a command and pass it
// to Load.
func Flags() *pflag.FlagSet {
	fs := pflag.NewFlagSet("config", pflag.ContinueOnError)
	defaults := leafDefaults()
	keys := make([]string, 0, len(defaults))
	for k := range defaults {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		usage := "sets " + key + " (env " + EnvName(key) + ")"
		switch d := defaults[key].(type) {
		case string:
			fs.String(key, d, usage)
		case int:
			fs.Int(key, d, usage)
		case bool:
			fs.Bool(key, d, usage)
		case time.Duration:
			fs.Duration(key, d, usage)
		case []string:
			fs.StringSlice(key, d, usage)
		default:
			panic(fmt.Sprintf("config: no flag type for key %s (%T)", key, d))
		}
	}
	return fs
}

// EnvName is the environment variable that sets key.
func EnvName(key string) string {
	return EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// closest returns the candidate within edit distance 3 of s, if any.
func closest(s string, candidates []string) string {
	best, bestDist := "", 4
	sort.Strings(candidates)
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
