package deploy

// Which AWS operations each service's code calls, read from the code: the
// module's packages in `go list -deps ./cmd/<service>` are type-checked from
// source, a reference graph of their functions is built, and the AWS SDK
// calls in the functions reachable from the service's main are collected.
//
// An AWS SDK call is (a) a call of a method, of a concrete client or of any
// interface (the SDK's or the module's own API interfaces), one of whose
// parameters is *<sdk service package>.<Operation>Input, or (b) a call of a
// function of an SDK service package taking an <Operation>APIClient (its
// waiters and paginators). The operation name is the IAM action of dynamodb
// and s3 for every operation the services use.
//
// Reachability: a function reaches every module function or method it names
// (called or taken as a value, in closures too), and a call of an interface
// method reaches the module's methods of that name whose type implements the
// interface. Package-level variable initialisers and init functions of the
// service's packages are roots beside main. A method reached only from code
// outside the module (a standard library or Goka interface calling back)
// is missed; no AWS call sits behind such a path today, and the IAM test
// logs the functions it found calling AWS, so a new one shows.

import (
	"go/ast"
	"go/types"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"golang.org/x/tools/go/packages"
)

const k8sSDKServicePrefix = "github.com/aws/aws-sdk-go-v2/service/"

// k8sAWSUse is what one service's reachable code does with AWS.
type k8sAWSUse struct {
	ops     map[string]map[string]bool // SDK service (dynamodb, s3) -> operations
	pkgs    map[string]bool            // reachable module packages
	callers map[string]bool            // reachable functions with an AWS call
}

var k8sAWSOps struct {
	once sync.Once
	uses map[string]k8sAWSUse
	err  string
}

// k8sAWSOperations returns the AWS use of each service, by service name.
func k8sAWSOperations(t *testing.T) map[string]k8sAWSUse {
	t.Helper()
	k8sAWSOps.once.Do(func() { k8sAWSOps.uses, k8sAWSOps.err = k8sAnalyseAWS() })
	if k8sAWSOps.err != "" {
		t.Fatal(k8sAWSOps.err)
	}
	return k8sAWSOps.uses
}

func k8sGoList(args ...string) ([]string, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = k8sRepoRoot
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return nil, &k8sListError{args, string(ee.Stderr)}
		}
		return nil, err
	}
	return strings.Fields(string(out)), nil
}

type k8sListError struct {
	args   []string
	stderr string
}

func (e *k8sListError) Error() string { return "go " + strings.Join(e.args, " ") + ": " + e.stderr }

func k8sAnalyseAWS() (map[string]k8sAWSUse, string) {
	mod, err := k8sGoList("list", "-m")
	if err != nil || len(mod) != 1 {
		return nil, "go list -m: " + k8sErrString(err)
	}
	modPath := mod[0]
	inModule := func(p *types.Package) bool {
		return p != nil && (p.Path() == modPath || strings.HasPrefix(p.Path(), modPath+"/"))
	}
	deps := map[string][]string{} // service -> module packages it links
	all := map[string]bool{}
	for _, s := range k8sServices {
		pkgs, err := k8sGoList("list", "-deps", "./cmd/"+s.Name)
		if err != nil {
			return nil, k8sErrString(err)
		}
		for _, p := range pkgs {
			if p == modPath || strings.HasPrefix(p, modPath+"/") {
				deps[s.Name] = append(deps[s.Name], p)
				all[p] = true
			}
		}
	}
	var patterns []string
	for p := range all {
		patterns = append(patterns, p)
	}
	cfg := &packages.Config{Dir: k8sRepoRoot, Mode: packages.NeedName | packages.NeedFiles | packages.NeedSyntax |
		packages.NeedTypes | packages.NeedTypesInfo | packages.NeedImports}
	loaded, err := packages.Load(cfg, patterns...)
	if err != nil {
		return nil, "loading packages: " + err.Error()
	}
	var loadErrs []string
	packages.Visit(loaded, nil, func(p *packages.Package) {
		if all[p.PkgPath] {
			for _, e := range p.Errors {
				loadErrs = append(loadErrs, e.Error())
			}
		}
	})
	if len(loadErrs) > 0 {
		return nil, "type-checking: " + strings.Join(loadErrs, "; ")
	}

	type node struct {
		pkg   string
		edges map[string]bool
		ops   map[string]map[string]bool
	}
	nodes := map[string]*node{}
	methodsByName := map[string][]*types.Func{} // module methods, by name
	ifaceCalls := map[string][]*types.Func{}    // node -> interface methods it calls
	pkgRoots := map[string][]string{}           // package -> init / var-initialiser nodes
	mainOf := map[string]string{}               // package path -> key of its main

	for _, p := range loaded {
		info := p.TypesInfo
		walk := func(key string, body ast.Node) {
			n := nodes[key]
			if n == nil {
				n = &node{pkg: p.PkgPath, edges: map[string]bool{}, ops: map[string]map[string]bool{}}
				nodes[key] = n
			}
			ast.Inspect(body, func(x ast.Node) bool {
				switch x := x.(type) {
				case *ast.Ident:
					f, ok := info.Uses[x].(*types.Func)
					if !ok {
						return true
					}
					f = f.Origin()
					if sig := f.Type().(*types.Signature); sig.Recv() != nil && types.IsInterface(sig.Recv().Type()) {
						ifaceCalls[key] = append(ifaceCalls[key], f)
					} else if inModule(f.Pkg()) {
						n.edges[f.FullName()] = true
					}
				case *ast.CallExpr:
					if svc, op := k8sSDKOperation(info, x); op != "" {
						if n.ops[svc] == nil {
							n.ops[svc] = map[string]bool{}
						}
						n.ops[svc][op] = true
					}
				}
				return true
			})
		}
		for _, file := range p.Syntax {
			for _, d := range file.Decls {
				switch d := d.(type) {
				case *ast.FuncDecl:
					f, ok := info.Defs[d.Name].(*types.Func)
					if !ok || d.Body == nil {
						continue
					}
					key := f.FullName()
					if d.Recv == nil && d.Name.Name == "init" {
						key = p.PkgPath + ".init#" + p.Fset.Position(d.Pos()).String()
						pkgRoots[p.PkgPath] = append(pkgRoots[p.PkgPath], key)
					}
					if d.Recv == nil && d.Name.Name == "main" && p.Name == "main" {
						mainOf[p.PkgPath] = key
					}
					if d.Recv != nil {
						methodsByName[f.Name()] = append(methodsByName[f.Name()], f)
					}
					walk(key, d.Body)
				case *ast.GenDecl:
					key := p.PkgPath + ".vars#" + p.Fset.Position(d.Pos()).String()
					pkgRoots[p.PkgPath] = append(pkgRoots[p.PkgPath], key)
					walk(key, d)
				}
			}
		}
	}
	// An interface method call reaches the module's methods of that name
	// whose type implements the interface.
	for key, calls := range ifaceCalls {
		for _, im := range calls {
			iface, _ := im.Type().(*types.Signature).Recv().Type().Underlying().(*types.Interface)
			for _, m := range methodsByName[im.Name()] {
				recv := m.Type().(*types.Signature).Recv().Type()
				if _, isPtr := recv.(*types.Pointer); !isPtr {
					recv = types.NewPointer(recv)
				}
				if iface == nil || types.Implements(recv, iface) || k8sIsGenericRecv(m) {
					nodes[key].edges[m.FullName()] = true
				}
			}
		}
	}

	uses := map[string]k8sAWSUse{}
	reached := map[string]bool{}
	for _, s := range k8sServices {
		u := k8sAWSUse{ops: map[string]map[string]bool{}, pkgs: map[string]bool{}, callers: map[string]bool{}}
		main, ok := mainOf[modPath+"/cmd/"+s.Name]
		if !ok {
			return nil, "no main function in ./cmd/" + s.Name
		}
		queue := []string{main}
		for _, p := range deps[s.Name] {
			queue = append(queue, pkgRoots[p]...)
		}
		seen := map[string]bool{}
		for len(queue) > 0 {
			k := queue[0]
			queue = queue[1:]
			if seen[k] {
				continue
			}
			seen[k] = true
			n := nodes[k]
			if n == nil {
				continue // declared without a body, or outside the service's packages
			}
			u.pkgs[n.pkg] = true
			for svc, ops := range n.ops {
				u.callers[k], reached[k] = true, true
				if u.ops[svc] == nil {
					u.ops[svc] = map[string]bool{}
				}
				for op := range ops {
					u.ops[svc][op] = true
				}
			}
			for e := range n.edges {
				queue = append(queue, e)
			}
		}
		uses[s.Name] = u
	}
	// Every AWS call in the services' packages must be reached by one of
	// them: one that is not is dead code or a path this analysis misses.
	var unreached []string
	for k, n := range nodes {
		if len(n.ops) > 0 && !reached[k] {
			unreached = append(unreached, k)
		}
	}
	if len(unreached) > 0 {
		return nil, "AWS calls reached from no service's main (dead code, or a call path this analysis misses): " + strings.Join(unreached, ", ")
	}
	return uses, ""
}

// k8sSDKOperation reports the AWS operation a call performs, if any: the SDK
// service's package name (dynamodb, s3) and the operation.
func k8sSDKOperation(info *types.Info, call *ast.CallExpr) (svc, op string) {
	var id *ast.Ident
	switch fun := ast.Unparen(call.Fun).(type) {
	case *ast.SelectorExpr:
		id = fun.Sel
	case *ast.Ident:
		id = fun
	default:
		return "", ""
	}
	f, ok := info.Uses[id].(*types.Func)
	if !ok {
		return "", ""
	}
	sig := f.Type().(*types.Signature)
	for i := range sig.Params().Len() {
		t := sig.Params().At(i).Type()
		ptr := false
		if p, ok := t.(*types.Pointer); ok {
			t, ptr = p.Elem(), true
		}
		named, ok := t.(*types.Named)
		if !ok || named.Obj().Pkg() == nil || !strings.HasPrefix(named.Obj().Pkg().Path(), k8sSDKServicePrefix) {
			continue
		}
		pkg, name := named.Obj().Pkg(), named.Obj().Name()
		switch {
		case sig.Recv() != nil && ptr && strings.HasSuffix(name, "Input"):
			return pkg.Name(), strings.TrimSuffix(name, "Input")
		case sig.Recv() == nil && f.Pkg() == pkg && strings.HasSuffix(name, "APIClient"):
			return pkg.Name(), strings.TrimSuffix(name, "APIClient")
		}
	}
	return "", ""
}

// k8sIsGenericRecv reports whether m is a method of a generic type (whose
// method set Implements cannot judge uninstantiated): such methods are
// linked by name alone.
func k8sIsGenericRecv(m *types.Func) bool {
	t := m.Type().(*types.Signature).Recv().Type()
	if p, ok := t.(*types.Pointer); ok {
		t = p.Elem()
	}
	n, ok := t.(*types.Named)
	return ok && n.TypeParams().Len() > 0
}

func k8sErrString(err error) string {
	if err == nil {
		return "unexpected output"
	}
	return err.Error()
}
