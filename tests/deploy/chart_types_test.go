// Renders the Helm chart with the real helm for several value sets and decodes every object
// with the Kubernetes API types in strict mode: an unknown or misspelt field, a wrong type or
// an unknown kind fails, as the API server would refuse it. Names and port names are checked
// with the API server's own validation functions.
package deploy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/validation"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// Custom resources the chart may render; their operators' CRDs are not part of k8s.io/api.
var customKinds = map[schema.GroupVersionKind]bool{
	{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"}:          true,
	{Group: "monitoring.coreos.com", Version: "v1", Kind: "ServiceMonitor"}: true,
}

func helmBinary(t *testing.T) string {
	t.Helper()
	if path, err := exec.LookPath("helm"); err == nil {
		return path
	}
	home, _ := os.UserHomeDir()
	for _, dir := range []string{os.Getenv("GOBIN"), filepath.Join(home, "go", "bin")} {
		if dir == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "helm")); err == nil {
			return filepath.Join(dir, "helm")
		}
	}
	t.Fatal("helm not found: run scripts/install-deps.sh (it installs helm into ~/go/bin)")
	return ""
}

// The Kubernetes release whose API types (k8s.io/api v0.31) the objects are decoded with;
// helm built from source otherwise assumes an old default.
const kubeVersion = "1.31.0"

func chartDir() string { return filepath.Join("..", "..", "deploy", "helm", "proglog") }

func render(t *testing.T, settings ...string) [][]byte {
	t.Helper()
	args := []string{"template", "proglog", chartDir(), "--namespace", "logs",
		"--kube-version", kubeVersion}
	for _, s := range settings {
		args = append(args, "--set", s)
	}
	out, err := exec.Command(helmBinary(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	reader := utilyaml.NewYAMLReader(bufioReader(out))
	var docs [][]byte
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("splitting helm output: %v", err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) > 0 {
			docs = append(docs, doc)
		}
	}
}

func newDecoder() runtime.Decoder {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, policyv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	return kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme,
		kjson.SerializerOptions{Yaml: true, Strict: true})
}

// decodeAll decodes every rendered object strictly and returns them by kind.
func decodeAll(t *testing.T, docs [][]byte) map[string][]runtime.Object {
	t.Helper()
	decoder := newDecoder()
	byKind := map[string][]runtime.Object{}
	for _, doc := range docs {
		var probe unstructured.Unstructured
		if err := utilyaml.Unmarshal(doc, &probe.Object); err != nil {
			t.Fatalf("not YAML: %v\n%s", err, doc)
		}
		gvk := probe.GroupVersionKind()
		if customKinds[gvk] {
			byKind[gvk.Kind] = append(byKind[gvk.Kind], &probe)
			continue
		}
		obj, _, err := decoder.Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("%s %s does not decode strictly: %v\n%s", gvk.Kind, probe.GetName(), err, doc)
		}
		byKind[gvk.Kind] = append(byKind[gvk.Kind], obj)
		for _, msg := range validation.IsDNS1123Label(probe.GetName()) {
			t.Errorf("%s name %q: %s", gvk.Kind, probe.GetName(), msg)
		}
		if probe.GetNamespace() != "logs" {
			t.Errorf("%s %s: namespace %q, want the release namespace", gvk.Kind, probe.GetName(),
				probe.GetNamespace())
		}
	}
	return byKind
}

func checkPortNames(t *testing.T, where string, names ...string) {
	for _, name := range names {
		for _, msg := range validation.IsValidPortName(name) {
			t.Errorf("%s: port name %q: %s", where, name, msg)
		}
	}
}

func statefulSet(t *testing.T, objs map[string][]runtime.Object) *appsv1.StatefulSet {
	t.Helper()
	if len(objs["StatefulSet"]) != 1 {
		t.Fatalf("want one StatefulSet, got %d", len(objs["StatefulSet"]))
	}
	return objs["StatefulSet"][0].(*appsv1.StatefulSet)
}

func envOf(c corev1.Container) map[string]corev1.EnvVar {
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	return env
}

func checkCommon(t *testing.T, objs map[string][]runtime.Object, replicas int32) {
	t.Helper()
	sts := statefulSet(t, objs)
	if *sts.Spec.Replicas != replicas {
		t.Errorf("replicas %d, want %d", *sts.Spec.Replicas, replicas)
	}
	pod := sts.Spec.Template.Spec
	c := pod.Containers[0]
	for _, p := range c.Ports {
		checkPortNames(t, "container", p.Name)
	}
	for _, o := range objs["Service"] {
		svc := o.(*corev1.Service)
		for _, p := range svc.Spec.Ports {
			checkPortNames(t, "service "+svc.Name, p.Name)
		}
	}
	// Selector must match the template, or the API server refuses the StatefulSet.
	for k, v := range sts.Spec.Selector.MatchLabels {
		if sts.Spec.Template.Labels[k] != v {
			t.Errorf("selector %s=%s not in the pod template labels", k, v)
		}
	}
	var headless *corev1.Service
	for _, o := range objs["Service"] {
		if svc := o.(*corev1.Service); svc.Name == sts.Spec.ServiceName {
			headless = svc
		}
	}
	if headless == nil || headless.Spec.ClusterIP != corev1.ClusterIPNone ||
		!headless.Spec.PublishNotReadyAddresses {
		t.Errorf("serviceName %q must be a headless Service publishing not-ready pods",
			sts.Spec.ServiceName)
	}
	if len(sts.Spec.VolumeClaimTemplates) != 1 {
		t.Errorf("want one volumeClaimTemplate")
	}
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
		t.Errorf("pods must run as non-root with a read-only root filesystem")
	}
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil {
		t.Errorf("no preStop hook")
	}
	env := envOf(c)
	for _, name := range []string{"PROGLOG_ADVERTISE_HOST", "PROGLOG_BIND_ADDR", "PROGLOG_DATA_DIR"} {
		if _, ok := env[name]; !ok {
			t.Errorf("env %s missing", name)
		}
	}
	if replicas > 1 && len(objs["PodDisruptionBudget"]) != 1 {
		t.Errorf("want a PodDisruptionBudget")
	}
}

func TestChartRendersValidKubernetesObjects(t *testing.T) {
	for _, tc := range []struct {
		name     string
		replicas int32
		settings []string
	}{
		{"one replica", 1, []string{"replicas=1"}},
		{"three replicas", 3, []string{"replicas=3"}},
		{"three replicas with TLS", 3, []string{"replicas=3", "tls.enabled=true"}},
		{"TLS from cert-manager, ACL, gossip key", 3, []string{
			"tls.enabled=true", "tls.certManager.enabled=true",
			"tls.certManager.issuerRef.name=ca-issuer", "tls.acl.configMapName=proglog-acl",
			"gossip.keySecret=proglog-gossip"}},
		{"metrics with ServiceMonitor", 3, []string{
			"metrics.enabled=true", "metrics.serviceMonitor.enabled=true"}},
		{"per-pod LoadBalancers, hard anti-affinity", 5, []string{
			"replicas=5", "perPodService.enabled=true", "antiAffinity=hard"}},
		{"per-pod NodePorts", 3, []string{
			"perPodService.enabled=true", "perPodService.type=NodePort",
			"perPodService.nodePortBase=30400"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := decodeAll(t, render(t, tc.settings...))
			checkCommon(t, objs, tc.replicas)
		})
	}
}

func TestTLSValuesMountSecretsAndSwitchProbes(t *testing.T) {
	plain := statefulSet(t, decodeAll(t, render(t, "replicas=3")))
	c := plain.Spec.Template.Spec.Containers[0]
	if c.ReadinessProbe.GRPC == nil || c.LivenessProbe.GRPC == nil {
		t.Errorf("without TLS the probes use the gRPC health service")
	}
	if _, ok := envOf(c)["PROGLOG_SERVER_TLS_CERT_FILE"]; ok {
		t.Errorf("TLS settings without tls.enabled")
	}

	secured := statefulSet(t, decodeAll(t, render(t, "replicas=3", "tls.enabled=true")))
	c = secured.Spec.Template.Spec.Containers[0]
	if c.ReadinessProbe.Exec == nil || c.ReadinessProbe.GRPC != nil {
		t.Errorf("with TLS the readiness probe must not be the plaintext gRPC probe")
	}
	env := envOf(c)
	for _, name := range []string{
		"PROGLOG_SERVER_TLS_CERT_FILE", "PROGLOG_SERVER_TLS_KEY_FILE", "PROGLOG_SERVER_TLS_CA_FILE",
		"PROGLOG_PEER_TLS_CERT_FILE", "PROGLOG_PEER_TLS_KEY_FILE", "PROGLOG_PEER_TLS_CA_FILE",
	} {
		if _, ok := env[name]; !ok {
			t.Errorf("env %s missing with TLS on", name)
		}
	}
	secrets := map[string]bool{}
	for _, v := range secured.Spec.Template.Spec.Volumes {
		if v.Secret != nil {
			secrets[v.Secret.SecretName] = true
		}
	}
	if !secrets["proglog-tls"] {
		t.Errorf("TLS Secret proglog-tls not mounted: %v", secrets)
	}
}

func TestMetricsAreOffUntilEnabled(t *testing.T) {
	plain := statefulSet(t, decodeAll(t, render(t)))
	c := plain.Spec.Template.Spec.Containers[0]
	if strings.Contains(strings.Join(c.Args, " "), "--metrics-addr") ||
		plain.Spec.Template.Annotations["prometheus.io/scrape"] != "" {
		t.Errorf("metrics flag or scrape annotations rendered with metrics.enabled=false")
	}
	objs := decodeAll(t, render(t, "metrics.enabled=true", "metrics.port=9500"))
	sts := statefulSet(t, objs)
	c = sts.Spec.Template.Spec.Containers[0]
	if !strings.Contains(strings.Join(c.Args, " "), "--metrics-addr=0.0.0.0:9500") {
		t.Errorf("args %v lack --metrics-addr", c.Args)
	}
	if sts.Spec.Template.Annotations["prometheus.io/port"] != "9500" {
		t.Errorf("scrape annotations: %v", sts.Spec.Template.Annotations)
	}
}

func TestBadValuesAreRefusedBySchema(t *testing.T) {
	for _, setting := range []string{"replicas=0", "antiAffinity=sometimes", "rpcPort=70000",
		"logging.level=loud", "unknownValue=1"} {
		args := []string{"template", "proglog", chartDir(), "--kube-version", kubeVersion,
			"--set", setting}
		out, err := exec.Command(helmBinary(t), args...).CombinedOutput()
		if err == nil {
			t.Errorf("--set %s rendered; want a schema error", setting)
		} else if !strings.Contains(string(out), "schema") {
			t.Errorf("--set %s: want a schema error, got: %s", setting, out)
		}
	}
}

func TestHelmLintStrictIsClean(t *testing.T) {
	for _, settings := range []string{
		"replicas=1",
		"tls.enabled=true,tls.certManager.enabled=true,tls.certManager.issuerRef.name=ca," +
			"metrics.enabled=true,metrics.serviceMonitor.enabled=true,perPodService.enabled=true",
	} {
		out, err := exec.Command(helmBinary(t), "lint", "--strict", "--kube-version", kubeVersion,
			chartDir(), "--set", settings).CombinedOutput()
		if err != nil || strings.Contains(string(out), "[WARNING]") {
			t.Errorf("helm lint --strict --set %s: %v\n%s", settings, err, out)
		}
	}
}
