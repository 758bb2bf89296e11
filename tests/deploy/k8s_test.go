package deploy

// Checks of the Kubernetes deployment (deploy/k8s) against the code: the
// base and the EKS overlay are built with kustomize, every object is decoded
// strictly into its API type, and what the manifests promise is compared
// with what the services do (their HTTP routes, the variables config.Load
// reads, the shutdown bound, the AWS operations their code calls).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/cdcflow/cdcflow/internal/app"
	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/sinks/dlq"
	"github.com/cdcflow/cdcflow/sinks/s3report"
	"github.com/cdcflow/cdcflow/views/httpapi"
)

const (
	// k8sRepoRoot is the repository, relative to this package's directory
	// (go test's working directory).
	k8sRepoRoot   = "../.."
	k8sDir        = k8sRepoRoot + "/deploy/k8s"
	k8sBase       = k8sDir + "/base"
	k8sOverlayEKS = k8sDir + "/overlays/eks"
	k8sIAMDir     = k8sDir + "/iam"

	// What the EKS platform fixes (issue 12).
	k8sEKSNamespace   = "cdc-consumers"
	k8sEKSNamePrefix  = "cdc-platform-" // of every table and bucket
	k8sStateMountPath = "/var/lib/cdcflow"
	k8sNonRootUID     = 65532
)

// k8sEKSTables are the DynamoDB tables of the EKS platform, by service.
var k8sEKSTables = map[string]string{
	config.Inventory.Name: "cdc-platform-inventory-realtime",
	config.Search.Name:    "cdc-platform-product-search-index",
}

// k8sServices are the services the manifests deploy: config's own.
var k8sServices = []config.Service{config.Inventory, config.Analytics, config.Search}

// k8sObjects is one kustomize build, each object decoded into its type.
type k8sObjects struct {
	dir            string
	namespaces     []corev1.Namespace
	configMaps     map[string]corev1.ConfigMap
	serviceAccts   map[string]corev1.ServiceAccount
	services       map[string]corev1.Service
	deployments    map[string]appsv1.Deployment
	statefulSets   map[string]appsv1.StatefulSet
	pdbs           map[string]policyv1.PodDisruptionBudget
	serviceMons    []monitoringv1.ServiceMonitor
	prometheusRule []monitoringv1.PrometheusRule
	// namespaceOf is the metadata.namespace of every object, by kind/name.
	namespaceOf map[string]string
}

var k8sBuilds sync.Map // dir -> *k8sObjects

// k8sKustomizeBuild builds dir (as `kubectl kustomize dir`) and decodes every
// object strictly: an unknown field or kind fails the test.
func k8sKustomizeBuild(t *testing.T, dir string) *k8sObjects {
	t.Helper()
	if o, ok := k8sBuilds.Load(dir); ok {
		return o.(*k8sObjects)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), abs)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	o := &k8sObjects{dir: dir, configMaps: map[string]corev1.ConfigMap{}, serviceAccts: map[string]corev1.ServiceAccount{},
		services: map[string]corev1.Service{}, deployments: map[string]appsv1.Deployment{}, statefulSets: map[string]appsv1.StatefulSet{},
		pdbs: map[string]policyv1.PodDisruptionBudget{}, namespaceOf: map[string]string{}}
	for _, r := range m.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		if err := o.add(y); err != nil {
			t.Errorf("%s: %s %s: %v", dir, r.GetKind(), r.GetName(), err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	k8sBuilds.Store(dir, o)
	return o
}

// k8sDecodeStrict decodes one object's YAML into v, refusing unknown fields,
// and checks its apiVersion.
func k8sDecodeStrict(y []byte, apiVersion string, v any) error {
	var tm metav1.TypeMeta
	if err := sigsyaml.Unmarshal(y, &tm); err != nil {
		return err
	}
	if tm.APIVersion != apiVersion {
		return fmt.Errorf("apiVersion %q, want %q", tm.APIVersion, apiVersion)
	}
	return sigsyaml.UnmarshalStrict(y, v)
}

func (o *k8sObjects) add(y []byte) error {
	var tm metav1.TypeMeta
	if err := sigsyaml.Unmarshal(y, &tm); err != nil {
		return err
	}
	var meta metav1.ObjectMeta
	var err error
	switch tm.Kind {
	case "Namespace":
		var v corev1.Namespace
		err, meta = k8sDecodeStrict(y, "v1", &v), v.ObjectMeta
		o.namespaces = append(o.namespaces, v)
	case "ConfigMap":
		var v corev1.ConfigMap
		err, meta = k8sDecodeStrict(y, "v1", &v), v.ObjectMeta
		o.configMaps[v.Name] = v
	case "ServiceAccount":
		var v corev1.ServiceAccount
		err, meta = k8sDecodeStrict(y, "v1", &v), v.ObjectMeta
		o.serviceAccts[v.Name] = v
	case "Service":
		var v corev1.Service
		err, meta = k8sDecodeStrict(y, "v1", &v), v.ObjectMeta
		o.services[v.Name] = v
	case "Deployment":
		var v appsv1.Deployment
		err, meta = k8sDecodeStrict(y, "apps/v1", &v), v.ObjectMeta
		o.deployments[v.Name] = v
	case "StatefulSet":
		var v appsv1.StatefulSet
		err, meta = k8sDecodeStrict(y, "apps/v1", &v), v.ObjectMeta
		o.statefulSets[v.Name] = v
	case "PodDisruptionBudget":
		var v policyv1.PodDisruptionBudget
		err, meta = k8sDecodeStrict(y, "policy/v1", &v), v.ObjectMeta
		o.pdbs[v.Name] = v
	case "ServiceMonitor":
		var v monitoringv1.ServiceMonitor
		err, meta = k8sDecodeStrict(y, "monitoring.coreos.com/v1", &v), v.ObjectMeta
		o.serviceMons = append(o.serviceMons, v)
	case "PrometheusRule":
		var v monitoringv1.PrometheusRule
		err, meta = k8sDecodeStrict(y, "monitoring.coreos.com/v1", &v), v.ObjectMeta
		o.prometheusRule = append(o.prometheusRule, v)
	default:
		return fmt.Errorf("kind %s/%s is not one these tests know how to check", tm.APIVersion, tm.Kind)
	}
	if err != nil {
		return err
	}
	o.namespaceOf[tm.Kind+"/"+meta.Name] = meta.Namespace
	return nil
}

// k8sWorkload is a service's pod template, from its Deployment or StatefulSet.
type k8sWorkload struct {
	kind     string
	replicas *int32
	selector *metav1.LabelSelector
	pod      corev1.PodTemplateSpec
}

func (o *k8sObjects) workloadOf(t *testing.T, name string) k8sWorkload {
	t.Helper()
	d, isDep := o.deployments[name]
	s, isSts := o.statefulSets[name]
	switch {
	case isDep && isSts:
		t.Fatalf("%s: %s is both a Deployment and a StatefulSet", o.dir, name)
	case isDep:
		return k8sWorkload{"Deployment", d.Spec.Replicas, d.Spec.Selector, d.Spec.Template}
	case isSts:
		return k8sWorkload{"StatefulSet", s.Spec.Replicas, s.Spec.Selector, s.Spec.Template}
	}
	t.Fatalf("%s: no Deployment or StatefulSet named %s", o.dir, name)
	return k8sWorkload{}
}

// container is the service's container in its pod (named after it).
func (w k8sWorkload) container(t *testing.T, name string) corev1.Container {
	t.Helper()
	for _, c := range w.pod.Spec.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("%s: no container named %s", name, name)
	return corev1.Container{}
}

// envOf resolves a container's environment: envFrom ConfigMaps first, then
// env (which wins, as in the kubelet). Values from other sources (Secrets,
// fields) are recorded with the value "<from NAME>".
func (o *k8sObjects) envOf(t *testing.T, c corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef == nil {
			t.Errorf("container %s: envFrom other than a ConfigMap is not checked", c.Name)
			continue
		}
		cm, ok := o.configMaps[ef.ConfigMapRef.Name]
		if !ok {
			t.Errorf("container %s: envFrom ConfigMap %q is not in the build", c.Name, ef.ConfigMapRef.Name)
			continue
		}
		for k, v := range cm.Data {
			env[ef.Prefix+k] = v
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			env[e.Name] = "<from " + e.Name + ">"
			continue
		}
		env[e.Name] = e.Value
	}
	return env
}

// k8sConfigOf is what config.Load makes of a container's environment.
func k8sConfigOf(t *testing.T, svc config.Service, env map[string]string) config.Config {
	t.Helper()
	cfg, err := config.Load(svc, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("%s: config.Load with the manifest's environment: %v", svc.Name, err)
	}
	return cfg
}

// k8sConfigNames are the variables config.Load asks for, learned by asking it.
func k8sConfigNames(svc config.Service) map[string]bool {
	names := map[string]bool{}
	_, _ = config.Load(svc, func(k string) (string, bool) { names[k] = true; return "", false })
	return names
}

var k8sDirs = []string{k8sBase, k8sOverlayEKS}

// TestK8sBuildsStrictly: base and overlay build, every object is of a known
// kind and decodes into its API type without unknown fields, and each
// service has its ServiceAccount, Service, k8sWorkload and PodDisruptionBudget,
// named exactly as config names the service.
func TestK8sBuildsStrictly(t *testing.T) {
	for _, dir := range k8sDirs {
		o := k8sKustomizeBuild(t, dir)
		var want []string
		for _, s := range k8sServices {
			want = append(want, s.Name)
		}
		slices.Sort(want)
		names := slices.Sorted(maps.Keys(o.services))
		if !slices.Equal(names, want) {
			t.Errorf("%s: Services %v, want exactly %v (the names the ServiceMonitor's service label and the alerts use)", dir, names, want)
		}
		wl := slices.Sorted(maps.Keys(o.deployments))
		wl = append(wl, slices.Sorted(maps.Keys(o.statefulSets))...)
		slices.Sort(wl)
		if !slices.Equal(wl, want) {
			t.Errorf("%s: workloads %v, want %v", dir, wl, want)
		}
		for _, s := range k8sServices {
			if _, ok := o.serviceAccts[s.Name]; !ok {
				t.Errorf("%s: no ServiceAccount %s", dir, s.Name)
			}
			if _, ok := o.pdbs[s.Name]; !ok {
				t.Errorf("%s: no PodDisruptionBudget %s", dir, s.Name)
			}
		}
		if len(o.serviceMons) != 1 {
			t.Errorf("%s: %d ServiceMonitors, want 1", dir, len(o.serviceMons))
		}
		if len(o.prometheusRule) == 0 {
			t.Errorf("%s: no PrometheusRule (base/prometheusrule.yaml must be listed in base/kustomization.yaml)", dir)
		}
	}
}

// TestK8sProbesAndPorts: the probes ask routes httpapi serves, each with the
// right meaning (liveness and startup must not fail while the service is
// merely not ready; readiness must), on the port HTTP_ADDR listens on, and
// the Service's port "metrics" leads there.
func TestK8sProbesAndPorts(t *testing.T) {
	// The shared server with one readiness check failing: a service that is
	// alive but has not recovered its tables.
	srv := httpapi.New(prometheus.NewRegistry())
	srv.Ready("tables", func() (bool, string) { return false, "recovering" })
	status := func(path string) int {
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code
	}
	if status("/metrics") != http.StatusOK {
		t.Fatal("httpapi does not serve /metrics")
	}
	for _, dir := range k8sDirs {
		o := k8sKustomizeBuild(t, dir)
		for _, s := range k8sServices {
			w := o.workloadOf(t, s.Name)
			c := w.container(t, s.Name)
			cfg := k8sConfigOf(t, s, o.envOf(t, c))
			_, portStr, err := net.SplitHostPort(cfg.HTTPAddr)
			if err != nil {
				t.Fatal(err)
			}
			httpPort, _ := strconv.Atoi(portStr)
			var cp *corev1.ContainerPort
			for i := range c.Ports {
				if c.Ports[i].ContainerPort == int32(httpPort) {
					cp = &c.Ports[i]
				}
			}
			if cp == nil {
				t.Errorf("%s %s: no containerPort %d (HTTP_ADDR %q)", dir, s.Name, httpPort, cfg.HTTPAddr)
				continue
			}
			// portOf resolves a probe's or Service's target port to a number.
			portOf := func(p intstr.IntOrString) int32 {
				if p.Type == intstr.Int {
					return p.IntVal
				}
				for _, q := range c.Ports {
					if q.Name == p.StrVal {
						return q.ContainerPort
					}
				}
				return -1
			}
			probes := []struct {
				name    string
				p       *corev1.Probe
				okWhile bool // must succeed while the service is not ready
			}{{"livenessProbe", c.LivenessProbe, true}, {"startupProbe", c.StartupProbe, true}, {"readinessProbe", c.ReadinessProbe, false}}
			for _, pr := range probes {
				if pr.p == nil {
					if pr.name != "startupProbe" {
						t.Errorf("%s %s: no %s", dir, s.Name, pr.name)
					}
					continue
				}
				if pr.p.HTTPGet == nil {
					t.Errorf("%s %s: %s is not httpGet", dir, s.Name, pr.name)
					continue
				}
				if got := portOf(pr.p.HTTPGet.Port); got != int32(httpPort) {
					t.Errorf("%s %s: %s port %s is %d, the service listens on %d (HTTP_ADDR %q)", dir, s.Name, pr.name, pr.p.HTTPGet.Port.String(), got, httpPort, cfg.HTTPAddr)
				}
				code := status(pr.p.HTTPGet.Path)
				switch {
				case code == http.StatusNotFound || code == http.StatusMethodNotAllowed:
					t.Errorf("%s %s: %s path %q is not a route httpapi serves (%d)", dir, s.Name, pr.name, pr.p.HTTPGet.Path, code)
				case pr.okWhile && code != http.StatusOK:
					t.Errorf("%s %s: %s %q answers %d while the service is alive but not ready: the kubelet would restart it during recovery", dir, s.Name, pr.name, pr.p.HTTPGet.Path, code)
				case !pr.okWhile && code != http.StatusServiceUnavailable:
					t.Errorf("%s %s: %s %q answers %d while the tables are not recovered, want 503", dir, s.Name, pr.name, pr.p.HTTPGet.Path, code)
				}
			}
			svc := o.services[s.Name]
			var metrics *corev1.ServicePort
			for i := range svc.Spec.Ports {
				if svc.Spec.Ports[i].Name == "metrics" {
					metrics = &svc.Spec.Ports[i]
				}
			}
			if metrics == nil {
				t.Errorf("%s: Service %s has no port named metrics", dir, s.Name)
			} else if got := portOf(metrics.TargetPort); got != int32(httpPort) {
				t.Errorf("%s: Service %s port metrics targets %d, the service serves /metrics on %d", dir, s.Name, got, httpPort)
			}
			sel := labels.SelectorFromSet(svc.Spec.Selector)
			if len(svc.Spec.Selector) == 0 || !sel.Matches(labels.Set(w.pod.Labels)) {
				t.Errorf("%s: Service %s selector %v does not select the pods (%v)", dir, s.Name, svc.Spec.Selector, w.pod.Labels)
			}
		}
	}
}

// TestK8sEnvIsConfig: every variable the manifests set is one config.Load
// reads, the values load without error, and they say what the manifests
// assume (service, group, state directory).
func TestK8sEnvIsConfig(t *testing.T) {
	for _, dir := range k8sDirs {
		o := k8sKustomizeBuild(t, dir)
		for _, s := range k8sServices {
			names := k8sConfigNames(s)
			if !names["KAFKA_BOOTSTRAP_SERVERS"] || !names["STATE_DIR"] {
				t.Fatalf("recording config.Load's variables failed: %v", names)
			}
			w := o.workloadOf(t, s.Name)
			c := w.container(t, s.Name)
			env := o.envOf(t, c)
			for _, k := range slices.Sorted(maps.Keys(env)) {
				if !names[k] {
					t.Errorf("%s %s: env %s is not a variable config.Load reads", dir, s.Name, k)
				}
			}
			cfg := k8sConfigOf(t, s, env)
			if cfg.GroupID != s.DefaultGroup {
				t.Errorf("%s %s: KAFKA_GROUP_ID %q, want the contract's %q", dir, s.Name, cfg.GroupID, s.DefaultGroup)
			}
			if want := "/usr/local/bin/" + s.Name; len(c.Command) != 1 || c.Command[0] != want {
				t.Errorf("%s %s: command %v, want [%s] (the Dockerfile's binary of this service)", dir, s.Name, c.Command, want)
			}
			if cfg.StateDir != k8sStateMountPath {
				t.Errorf("%s %s: STATE_DIR %q, want %s", dir, s.Name, cfg.StateDir, k8sStateMountPath)
			}
		}
	}
}

// TestK8sPodSpec: grace period, security context, state volume, service
// account, resources and disruption budget of each service.
func TestK8sPodSpec(t *testing.T) {
	for _, dir := range k8sDirs {
		o := k8sKustomizeBuild(t, dir)
		for _, s := range k8sServices {
			w := o.workloadOf(t, s.Name)
			ps := w.pod.Spec
			c := w.container(t, s.Name)
			cfg := k8sConfigOf(t, s, o.envOf(t, c))
			where := dir + " " + s.Name

			if g := ps.TerminationGracePeriodSeconds; g == nil || int64(app.ShutdownTimeout.Seconds()) >= *g {
				t.Errorf("%s: terminationGracePeriodSeconds %s must exceed the shutdown bound %v", where, k8sPtr(g), app.ShutdownTimeout)
			}
			if ps.ServiceAccountName != s.Name {
				t.Errorf("%s: serviceAccountName %q, want %q (one per service, for EKS Pod Identity)", where, ps.ServiceAccountName, s.Name)
			}
			if _, ok := o.serviceAccts[ps.ServiceAccountName]; !ok {
				t.Errorf("%s: ServiceAccount %q is not in the build", where, ps.ServiceAccountName)
			}

			// Security: non-root 65532, read-only root, no escalation.
			psc, csc := ps.SecurityContext, c.SecurityContext
			if psc == nil {
				psc = &corev1.PodSecurityContext{}
			}
			if csc == nil {
				csc = &corev1.SecurityContext{}
			}
			uid := csc.RunAsUser
			if uid == nil {
				uid = psc.RunAsUser
			}
			nonRoot := csc.RunAsNonRoot
			if nonRoot == nil {
				nonRoot = psc.RunAsNonRoot
			}
			if uid == nil || *uid != k8sNonRootUID || nonRoot == nil || !*nonRoot {
				t.Errorf("%s: must run as non-root user %d (runAsUser %s, runAsNonRoot %s)", where, k8sNonRootUID, k8sPtr(uid), k8sPtr(nonRoot))
			}
			if csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem {
				t.Errorf("%s: readOnlyRootFilesystem must be true", where)
			}
			if csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
				t.Errorf("%s: allowPrivilegeEscalation must be false", where)
			}
			if csc.Capabilities == nil || !slices.Contains(csc.Capabilities.Drop, "ALL") {
				t.Errorf("%s: capabilities must drop ALL", where)
			}

			// STATE_DIR is a writable volume.
			var stateVol string
			for _, m := range c.VolumeMounts {
				if m.MountPath == cfg.StateDir {
					if m.ReadOnly {
						t.Errorf("%s: the STATE_DIR mount is read-only", where)
					}
					stateVol = m.Name
				}
			}
			writable := false
			for _, v := range ps.Volumes {
				if v.Name == stateVol && (v.EmptyDir != nil || v.PersistentVolumeClaim != nil) {
					writable = true
				}
			}
			if w.kind == "StatefulSet" {
				for _, pvc := range o.statefulSets[s.Name].Spec.VolumeClaimTemplates {
					if pvc.Name == stateVol {
						writable = true
					}
				}
			}
			if stateVol == "" || !writable {
				t.Errorf("%s: STATE_DIR %s is not mounted from an emptyDir or a volume claim (mount %q)", where, cfg.StateDir, stateVol)
			}

			// Resources: requests and limits for CPU and memory, requests <= limits.
			for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				req, okReq := c.Resources.Requests[r]
				lim, okLim := c.Resources.Limits[r]
				if !okReq || !okLim || req.IsZero() {
					t.Errorf("%s: %s request and limit must be set", where, r)
				} else if req.Cmp(lim) > 0 {
					t.Errorf("%s: %s request %s exceeds its limit %s", where, r, req.String(), lim.String())
				}
			}

			// PodDisruptionBudget over these pods, leaving one up.
			pdb := o.pdbs[s.Name]
			sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
			if err != nil || pdb.Spec.Selector == nil || !sel.Matches(labels.Set(w.pod.Labels)) {
				t.Errorf("%s: PodDisruptionBudget selector %v does not select the pods (%v)", where, pdb.Spec.Selector, w.pod.Labels)
			}
			wsel, err := metav1.LabelSelectorAsSelector(w.selector)
			if err != nil || !wsel.Matches(labels.Set(w.pod.Labels)) {
				t.Errorf("%s: %s selector does not select its own pod template", where, w.kind)
			}
			replicas := int32(1)
			if w.replicas != nil {
				replicas = *w.replicas
			}
			if mu := pdb.Spec.MaxUnavailable; mu != nil {
				if n, err := intstr.GetScaledValueFromIntOrPercent(mu, int(replicas), true); err != nil || n >= int(replicas) || n < 1 {
					t.Errorf("%s: PodDisruptionBudget maxUnavailable %s of %d replicas: want at least one pod evictable and one left", where, mu.String(), replicas)
				}
			} else if mi := pdb.Spec.MinAvailable; mi != nil {
				if n, err := intstr.GetScaledValueFromIntOrPercent(mi, int(replicas), true); err != nil || n >= int(replicas) || n < 1 {
					t.Errorf("%s: PodDisruptionBudget minAvailable %s of %d replicas blocks every eviction or allows all", where, mi.String(), replicas)
				}
			} else {
				t.Errorf("%s: PodDisruptionBudget sets neither maxUnavailable nor minAvailable", where)
			}
		}
	}
}

// TestK8sServiceMonitor: one ServiceMonitor selects exactly the three
// Services, scrapes their port "metrics" at /metrics, and sets the target
// label service from the Service's name.
func TestK8sServiceMonitor(t *testing.T) {
	for _, dir := range k8sDirs {
		o := k8sKustomizeBuild(t, dir)
		for _, sm := range o.serviceMons {
			sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
			if err != nil {
				t.Fatalf("%s: ServiceMonitor %s selector: %v", dir, sm.Name, err)
			}
			var selected []string
			for name, svc := range o.services {
				if sel.Matches(labels.Set(svc.Labels)) {
					selected = append(selected, name)
				}
			}
			slices.Sort(selected)
			var want []string
			for _, s := range k8sServices {
				want = append(want, s.Name)
			}
			slices.Sort(want)
			if !slices.Equal(selected, want) {
				t.Errorf("%s: ServiceMonitor %s selects %v, want %v", dir, sm.Name, selected, want)
			}
			if ns := sm.Spec.NamespaceSelector; !ns.Any && len(ns.MatchNames) > 0 && !slices.Contains(ns.MatchNames, o.namespaceOf["Service/"+want[0]]) {
				t.Errorf("%s: ServiceMonitor %s namespaceSelector %v misses the Services' namespace", dir, sm.Name, ns.MatchNames)
			}
			if len(sm.Spec.Endpoints) != 1 {
				t.Errorf("%s: ServiceMonitor %s has %d endpoints, want 1", dir, sm.Name, len(sm.Spec.Endpoints))
				continue
			}
			ep := sm.Spec.Endpoints[0]
			if ep.Port != "metrics" {
				t.Errorf("%s: ServiceMonitor %s endpoint port %q, want metrics", dir, sm.Name, ep.Port)
			}
			if ep.Path != "" && ep.Path != "/metrics" {
				t.Errorf("%s: ServiceMonitor %s path %q, want /metrics", dir, sm.Name, ep.Path)
			}
			if ep.HonorLabels {
				t.Errorf("%s: ServiceMonitor %s sets honorLabels: a metric's own service label would replace the Service's name", dir, sm.Name)
			}
			sets := false
			for _, rc := range ep.RelabelConfigs {
				if rc.TargetLabel == "service" && slices.Equal(rc.SourceLabels, []monitoringv1.LabelName{"__meta_kubernetes_service_name"}) &&
					(rc.Action == "" || strings.EqualFold(rc.Action, "replace")) && (rc.Replacement == nil || *rc.Replacement == "$1") {
					sets = true
				}
			}
			if !sets {
				t.Errorf("%s: ServiceMonitor %s does not set the target label service from __meta_kubernetes_service_name", dir, sm.Name)
			}
		}
	}
}

// TestK8sOverlayEKS: the EKS overlay's namespace, table and bucket names,
// and that it renames nothing.
func TestK8sOverlayEKS(t *testing.T) {
	o := k8sKustomizeBuild(t, k8sOverlayEKS)
	if len(o.namespaces) != 1 || o.namespaces[0].Name != k8sEKSNamespace {
		t.Errorf("overlay: Namespace objects %v, want one named %s", o.namespaces, k8sEKSNamespace)
	}
	for key, ns := range o.namespaceOf {
		if strings.HasPrefix(key, "Namespace/") {
			continue
		}
		if ns != k8sEKSNamespace {
			t.Errorf("overlay: %s is in namespace %q, want %s", key, ns, k8sEKSNamespace)
		}
	}
	for _, s := range k8sServices {
		w := o.workloadOf(t, s.Name)
		c := w.container(t, s.Name)
		cfg := k8sConfigOf(t, s, o.envOf(t, c))
		if cfg.DynamoTable != k8sEKSTables[s.Name] {
			t.Errorf("overlay %s: DYNAMODB_TABLE %q, want %q", s.Name, cfg.DynamoTable, k8sEKSTables[s.Name])
		}
		for _, b := range []struct{ name, v string }{{"S3_BUCKET", cfg.S3Bucket}, {"DLQ_S3_BUCKET", cfg.DLQS3Bucket}} {
			if b.v != "" && !strings.HasPrefix(b.v, k8sEKSNamePrefix) {
				t.Errorf("overlay %s: %s %q does not start with %s", s.Name, b.name, b.v, k8sEKSNamePrefix)
			}
		}
		if s.Name == config.Analytics.Name && cfg.S3Bucket == "" {
			t.Errorf("overlay %s: no S3_BUCKET: the reports would stay in the HTTP API", s.Name)
		}
		if cfg.Replication < 3 {
			t.Errorf("overlay %s: KAFKA_REPLICATION_FACTOR %d; the platform's brokers need 3", s.Name, cfg.Replication)
		}
	}
}

// k8sIAMPolicy is an IAM policy document.
type k8sIAMPolicy struct {
	Version   string
	Statement []struct {
		Sid      string `json:",omitempty"`
		Effect   string
		Action   []string
		Resource []string
	}
}

// TestK8sIAMLeastPrivilege: each service's policy (deploy/k8s/iam/<service>.json)
// allows exactly the AWS operations its code calls (found by reading the
// code reachable from cmd/<service>), each only on the table or bucket
// prefix the EKS overlay configures for it, and nothing else.
func TestK8sIAMLeastPrivilege(t *testing.T) {
	o := k8sKustomizeBuild(t, k8sOverlayEKS)
	uses := k8sAWSOperations(t)
	for _, s := range k8sServices {
		c := o.workloadOf(t, s.Name).container(t, s.Name)
		cfg := k8sConfigOf(t, s, o.envOf(t, c))
		u := uses[s.Name]
		t.Logf("%s calls %v (functions calling AWS: %v)", s.Name, u.ops, slices.Sorted(maps.Keys(u.callers)))

		// The (action, resource) pairs the service needs.
		want := map[string]bool{}
		for op := range u.ops["dynamodb"] {
			if cfg.DynamoTable == "" {
				continue // the client is only made when there is a table
			}
			want["dynamodb:"+op+" arn:aws:dynamodb:"+cfg.AWSRegion+":*:table/"+cfg.DynamoTable] = true
		}
		var s3Resources []string
		if cfg.S3Bucket != "" && u.pkgs["github.com/cdcflow/cdcflow/sinks/s3report"] {
			s3Resources = append(s3Resources, "arn:aws:s3:::"+cfg.S3Bucket+"/"+s3report.KeyPrefix+"/*")
		}
		if cfg.DLQS3Bucket != "" && u.pkgs["github.com/cdcflow/cdcflow/sinks/dlq"] {
			s3Resources = append(s3Resources, "arn:aws:s3:::"+cfg.DLQS3Bucket+"/"+dlq.KeyPrefix+"/"+s.Name+"/*")
		}
		for op := range u.ops["s3"] {
			for _, r := range s3Resources {
				want["s3:"+op+" "+r] = true
			}
		}
		for svc, ops := range u.ops {
			if svc != "dynamodb" && svc != "s3" && len(ops) > 0 {
				t.Errorf("%s calls %s %v: this test does not know its resources", s.Name, svc, ops)
			}
		}

		raw, err := os.ReadFile(filepath.Join(k8sIAMDir, s.Name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		var p k8sIAMPolicy
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("iam/%s.json: %v", s.Name, err)
		}
		if p.Version != "2012-10-17" {
			t.Errorf("iam/%s.json: Version %q", s.Name, p.Version)
		}
		got := map[string]bool{}
		for _, st := range p.Statement {
			if st.Effect != "Allow" {
				t.Errorf("iam/%s.json: statement %q has Effect %q; only Allow is expected", s.Name, st.Sid, st.Effect)
			}
			for _, a := range st.Action {
				for _, r := range st.Resource {
					got[a+" "+r] = true
				}
			}
		}
		for _, k := range slices.Sorted(maps.Keys(got)) {
			if !want[k] {
				t.Errorf("iam/%s.json allows %s, which the service does not need", s.Name, k)
			}
		}
		for _, k := range slices.Sorted(maps.Keys(want)) {
			if !got[k] {
				t.Errorf("iam/%s.json lacks %s, which the service calls", s.Name, k)
			}
		}
	}
}

// k8sPtr prints what p points to, or "unset".
func k8sPtr[T any](p *T) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}

// TestK8sIAMFiles: deploy/k8s/iam holds one policy per service and the
// trust policy that lets EKS Pod Identity assume the roles; nothing stale.
func TestK8sIAMFiles(t *testing.T) {
	want := []string{"pod-identity-trust.json"}
	for _, s := range k8sServices {
		want = append(want, s.Name+".json")
	}
	slices.Sort(want)
	entries, err := os.ReadDir(k8sIAMDir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, want) {
		t.Errorf("deploy/k8s/iam holds %v, want %v", got, want)
	}
	raw, err := os.ReadFile(filepath.Join(k8sIAMDir, "pod-identity-trust.json"))
	if err != nil {
		t.Fatal(err)
	}
	var trust struct {
		Version   string
		Statement []struct {
			Sid       string
			Effect    string
			Principal struct{ Service string }
			Action    []string
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&trust); err != nil {
		t.Fatalf("pod-identity-trust.json: %v", err)
	}
	if len(trust.Statement) != 1 {
		t.Fatalf("pod-identity-trust.json: %d statements, want 1", len(trust.Statement))
	}
	st := trust.Statement[0]
	acts := slices.Sorted(slices.Values(st.Action))
	if st.Effect != "Allow" || st.Principal.Service != "pods.eks.amazonaws.com" || !slices.Equal(acts, []string{"sts:AssumeRole", "sts:TagSession"}) {
		t.Errorf("pod-identity-trust.json: %+v, want pods.eks.amazonaws.com allowed sts:AssumeRole and sts:TagSession", st)
	}
}
