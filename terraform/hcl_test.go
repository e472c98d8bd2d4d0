package terraform

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// This file is a small Terraform evaluator, just enough for the module's
// tests: it reads a directory's variables, locals, resources and module
// calls, and evaluates expressions with the functions the module uses.
// Resources are not planned; tests give stand-ins for the attributes of
// resources that locals refer to.

// moduleDir is a parsed Terraform configuration directory.
type moduleDir struct {
	dir       string
	variables map[string]*hclsyntax.Block
	locals    map[string]*hclsyntax.Attribute
	resources map[string]*hclsyntax.Block // "type.name"
	modules   map[string]*hclsyntax.Block
}

func parseDir(t *testing.T, dir string) *moduleDir {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no .tf files in %s (%v)", dir, err)
	}
	m := &moduleDir{dir: dir, variables: map[string]*hclsyntax.Block{}, locals: map[string]*hclsyntax.Attribute{},
		resources: map[string]*hclsyntax.Block{}, modules: map[string]*hclsyntax.Block{}}
	parser := hclparse.NewParser()
	for _, name := range files {
		f, diags := parser.ParseHCLFile(name)
		if diags.HasErrors() {
			t.Fatalf("parse %s: %s", name, diags.Error())
		}
		for _, b := range f.Body.(*hclsyntax.Body).Blocks {
			switch b.Type {
			case "variable":
				m.variables[b.Labels[0]] = b
			case "locals":
				for name, a := range b.Body.Attributes {
					m.locals[name] = a
				}
			case "resource":
				m.resources[b.Labels[0]+"."+b.Labels[1]] = b
			case "module":
				m.modules[b.Labels[0]] = b
			}
		}
	}
	return m
}

// resource returns the resource block "type.name" or fails the test.
func (m *moduleDir) resource(t *testing.T, address string) *hclsyntax.Block {
	t.Helper()
	b, ok := m.resources[address]
	if !ok {
		t.Fatalf("%s declares no resource %s", m.dir, address)
	}
	return b
}

// inputs turns values given to the module into the var object Terraform
// would build: every variable, given or defaulted, converted to its type
// with optional attributes' defaults applied.
func (m *moduleDir) inputs(t *testing.T, given map[string]cty.Value) cty.Value {
	t.Helper()
	vars := map[string]cty.Value{}
	for name, b := range m.variables {
		typeAttr, ok := b.Body.Attributes["type"]
		if !ok {
			t.Fatalf("variable %s has no type", name)
		}
		ty, defaults, diags := typeexpr.TypeConstraintWithDefaults(typeAttr.Expr)
		if diags.HasErrors() {
			t.Fatalf("variable %s: type: %s", name, diags.Error())
		}
		v, ok := given[name]
		if !ok {
			def, has := b.Body.Attributes["default"]
			if !has {
				t.Fatalf("variable %s is required but not given", name)
			}
			v = evalExpr(t, def.Expr, nil)
		}
		if defaults != nil {
			v = defaults.Apply(v)
		}
		v, err := convert.Convert(v, ty)
		if err != nil {
			t.Fatalf("variable %s: %v", name, err)
		}
		vars[name] = v
	}
	for name := range given {
		if _, ok := m.variables[name]; !ok {
			t.Fatalf("%s has no variable %q", m.dir, name)
		}
	}
	return cty.ObjectVal(vars)
}

// validationFailures evaluates every validation block of the variables
// against vars and returns the error messages of those whose condition is
// false, as terraform plan would report them.
func (m *moduleDir) validationFailures(t *testing.T, vars cty.Value) []string {
	t.Helper()
	ctx := m.evalContext(vars, cty.NilVal, nil)
	var failed []string
	for name, b := range m.variables {
		for _, v := range b.Body.Blocks {
			if v.Type != "validation" {
				continue
			}
			ok, diags := v.Body.Attributes["condition"].Expr.Value(ctx)
			if diags.HasErrors() {
				t.Fatalf("variable %s: validation condition: %s", name, diags.Error())
			}
			if ok.False() {
				failed = append(failed, evalExpr(t, v.Body.Attributes["error_message"].Expr, nil).AsString())
			}
		}
	}
	sort.Strings(failed)
	return failed
}

// locals evaluates every local value, in dependency order.
func (m *moduleDir) localValues(t *testing.T, vars cty.Value, resources map[string]cty.Value) cty.Value {
	t.Helper()
	done := map[string]cty.Value{}
	for len(done) < len(m.locals) {
		progress := false
		for name, a := range m.locals {
			if _, ok := done[name]; ok || !localsReady(a.Expr, done) {
				continue
			}
			done[name] = evalExpr(t, a.Expr, m.evalContext(vars, cty.ObjectVal(done), resources))
			progress = true
		}
		if !progress {
			t.Fatalf("locals of %s refer to each other in a cycle or to missing locals", m.dir)
		}
	}
	return cty.ObjectVal(done)
}

func localsReady(expr hcl.Expression, done map[string]cty.Value) bool {
	for _, tr := range expr.Variables() {
		if tr.RootName() != "local" {
			continue
		}
		if _, ok := done[tr[1].(hcl.TraverseAttr).Name]; !ok {
			return false
		}
	}
	return true
}

func (m *moduleDir) evalContext(vars, locals cty.Value, resources map[string]cty.Value) *hcl.EvalContext {
	v := map[string]cty.Value{
		"var":  vars,
		"path": cty.ObjectVal(map[string]cty.Value{"module": cty.StringVal(m.dir)}),
	}
	if locals != cty.NilVal {
		v["local"] = locals
	}
	for name, val := range resources {
		v[name] = val
	}
	return &hcl.EvalContext{Variables: v, Functions: functions()}
}

func evalExpr(t *testing.T, expr hcl.Expression, ctx *hcl.EvalContext) cty.Value {
	t.Helper()
	v, diags := expr.Value(ctx)
	if diags.HasErrors() {
		t.Fatalf("evaluate %s: %s", expr.Range(), diags.Error())
	}
	return v
}

// functions are Terraform's functions that the module calls, from cty's
// standard library where it has them.
func functions() map[string]function.Function {
	return map[string]function.Function{
		"can":          tryfunc.CanFunc,
		"chomp":        stdlib.ChompFunc,
		"cidrhost":     cidrhostFunc,
		"coalesce":     stdlib.CoalesceFunc,
		"concat":       stdlib.ConcatFunc,
		"contains":     stdlib.ContainsFunc,
		"distinct":     stdlib.DistinctFunc,
		"file":         stringFunc(readFile),
		"flatten":      stdlib.FlattenFunc,
		"floor":        stdlib.FloorFunc,
		"index":        stdlib.IndexFunc,
		"jsonencode":   stdlib.JSONEncodeFunc,
		"keys":         stdlib.KeysFunc,
		"length":       stdlib.LengthFunc,
		"merge":        stdlib.MergeFunc,
		"regex":        stdlib.RegexFunc,
		"sort":         stdlib.SortFunc,
		"startswith":   startswithFunc,
		"substr":       stdlib.SubstrFunc,
		"templatefile": templatefileFunc(),
		"toset":        setFunc,
		"trimprefix":   stdlib.TrimPrefixFunc,
		"trimspace":    stdlib.TrimSpaceFunc,
		"try":          tryfunc.TryFunc,
		"upper":        stdlib.UpperFunc,
	}
}

func stringFunc(f func(string) (cty.Value, error)) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "s", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl:   func(args []cty.Value, _ cty.Type) (cty.Value, error) { return f(args[0].AsString()) },
	})
}

func readFile(path string) (cty.Value, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return cty.NilVal, err
	}
	return cty.StringVal(string(data)), nil
}

var startswithFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "s", Type: cty.String}, {Name: "prefix", Type: cty.String}},
	Type:   function.StaticReturnType(cty.Bool),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		return cty.BoolVal(strings.HasPrefix(args[0].AsString(), args[1].AsString())), nil
	},
})

// cidrhostFunc is Terraform's cidrhost for IPv4, which the module's
// validations use to reject malformed addresses and prefixes.
var cidrhostFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "prefix", Type: cty.String}, {Name: "hostnum", Type: cty.Number}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		p, err := netip.ParsePrefix(args[0].AsString())
		if err != nil {
			return cty.NilVal, err
		}
		n, _ := args[1].AsBigFloat().Int64()
		if bits := 32 - p.Bits(); !p.Addr().Is4() || n < 0 || n >= 1<<bits {
			return cty.NilVal, fmt.Errorf("host number %d does not fit in %s", n, p)
		}
		a := p.Masked().Addr().As4()
		v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]) + uint32(n)
		return cty.StringVal(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}).String()), nil
	},
})

var setFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "list", Type: cty.List(cty.String)}},
	Type:   function.StaticReturnType(cty.Set(cty.String)),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		if args[0].LengthInt() == 0 {
			return cty.SetValEmpty(cty.String), nil
		}
		return cty.SetVal(args[0].AsValueSlice()), nil
	},
})

// templatefileFunc renders a template file as Terraform's templatefile
// does: the template sees exactly the variables of the given object.
func templatefileFunc() function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "path", Type: cty.String}, {Name: "vars", Type: cty.DynamicPseudoType}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			path := args[0].AsString()
			src, err := os.ReadFile(path)
			if err != nil {
				return cty.NilVal, err
			}
			tmpl, diags := hclsyntax.ParseTemplate(src, path, hcl.InitialPos)
			if diags.HasErrors() {
				return cty.NilVal, diags
			}
			ctx := &hcl.EvalContext{Variables: args[1].AsValueMap(), Functions: functions()}
			out, diags := tmpl.Value(ctx)
			if diags.HasErrors() {
				return cty.NilVal, diags
			}
			return convert.Convert(out, cty.String)
		},
	})
}
