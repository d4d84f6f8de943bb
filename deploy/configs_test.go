package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// knownVariables are the COURIER_* variables the binary reads: one per flag
// of `courier help`.
func knownVariables(t *testing.T, bin string) map[string]bool {
	t.Helper()
	out, err := exec.Command(bin, "help").Output()
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  --([a-z0-9-]+)`).FindAllStringSubmatch(string(out), -1) {
		known["COURIER_"+strings.ToUpper(strings.ReplaceAll(m[1], "-", "_"))] = true
	}
	if len(known) < 30 {
		t.Fatalf("only %d flags in `courier help`", len(known))
	}
	return known
}

// imageEnv is what the Dockerfile's ENV lines set.
func imageEnv(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "ENV "), "="); ok && strings.HasPrefix(sc.Text(), "ENV ") {
			env[k] = v
		}
	}
	return env
}

// check runs `courier check` with env and args, as the container would start.
func check(t *testing.T, bin, where string, known map[string]bool, env map[string]string, args []string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"check"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		if strings.HasPrefix(k, "COURIER_") && !known[k] {
			t.Errorf("%s sets %s, which courier does not read", where, k)
		}
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("%s: courier check %v: %v\n%s", where, args, err, out)
	}
}

// Every variable and flag docker-compose.yml gives the nodes is one the
// binary reads, with a value it accepts (courier check).
func TestComposeConfigIsAccepted(t *testing.T) {
	bin := courierBinary(t)
	known := knownVariables(t, bin)
	data, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &compose); err != nil {
		t.Fatal(err)
	}
	nodes := 0
	for name, svc := range compose.Services {
		if !strings.Contains(svc.Image, "courier") {
			continue
		}
		nodes++
		env := imageEnv(t)
		for k, v := range svc.Environment {
			env[k] = v
		}
		if env["COURIER_NODE_ID"] != name || env["COURIER_REDIS"] == "" || env["COURIER_CLUSTER_SECRET"] == "" {
			t.Errorf("%s: node id %q, redis %q", name, env["COURIER_NODE_ID"], env["COURIER_REDIS"])
		}
		check(t, bin, "docker-compose.yml "+name, known, env, svc.Command)
	}
	if nodes != 3 || compose.Services["redis"].Image == "" || compose.Services["prometheus"].Image == "" || compose.Services["grafana"].Image == "" {
		t.Fatalf("compose has %d courier nodes and services %v; want 3 nodes, redis, prometheus, grafana", nodes, keys(compose.Services))
	}
}

// The Kubernetes manifests parse, hold what a cluster needs (a Secret, a
// headless Service for the gossip seeds, a client Service, probes, a grace
// period that fits the drain, a PodDisruptionBudget, resources), and the
// courier container's variables and flags pass `courier check`.
func TestKubernetesManifests(t *testing.T) {
	bin := courierBinary(t)
	known := knownVariables(t, bin)
	secrets := map[string]map[string]string{}
	var deployment, pdb, headless, clients map[string]any
	for _, file := range []string{"k8s/courier.yaml", "k8s/redis.yaml"} {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(f)
		for {
			var doc map[string]any
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			kind, _ := doc["kind"].(string)
			name := str(doc, "metadata", "name")
			if doc["apiVersion"] == nil || kind == "" || name == "" {
				t.Fatalf("%s: a document without apiVersion, kind or name: %v", file, doc)
			}
			switch {
			case kind == "Secret":
				m := map[string]string{}
				for k, v := range doc["stringData"].(map[string]any) {
					m[k] = v.(string)
				}
				secrets[name] = m
			case kind == "Deployment" && name == "courier":
				deployment = doc
			case kind == "PodDisruptionBudget":
				pdb = doc
			case kind == "Service" && str(doc, "spec", "clusterIP") == "None":
				headless = doc
			case kind == "Service" && name == "courier":
				clients = doc
			}
		}
		f.Close()
	}
	if deployment == nil || pdb == nil || headless == nil || clients == nil || secrets["courier-keys"] == nil {
		t.Fatal("want a courier Deployment, a PodDisruptionBudget, a headless Service, a client Service and the courier-keys Secret")
	}
	pod := deployment["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
	grace, _ := pod["terminationGracePeriodSeconds"].(int)
	container := pod["containers"].([]any)[0].(map[string]any)
	env := imageEnv(t)
	for _, e := range container["env"].([]any) {
		e := e.(map[string]any)
		name := e["name"].(string)
		switch {
		case e["value"] != nil:
			env[name] = e["value"].(string)
		case str(e, "valueFrom", "secretKeyRef", "name") != "":
			env[name] = secrets[str(e, "valueFrom", "secretKeyRef", "name")][str(e, "valueFrom", "secretKeyRef", "key")]
			if env[name] == "" {
				t.Errorf("%s comes from a Secret key that does not exist", name)
			}
		case str(e, "valueFrom", "fieldRef", "fieldPath") != "":
			env[name] = "courier-6d4f9-abcde" // a pod name
		}
	}
	var args []string
	for _, a := range container["args"].([]any) {
		args = append(args, a.(string))
	}
	check(t, bin, "k8s/courier.yaml", known, env, args)

	// the drain must end before the kubelet's SIGKILL
	drain := durationArg(t, args, "--drain-delay") + durationArg(t, args, "--drain-spread") + durationArg(t, args, "--shutdown-timeout")
	if time.Duration(grace)*time.Second <= drain {
		t.Errorf("terminationGracePeriodSeconds %d does not cover the drain and shutdown (%v)", grace, drain)
	}
	if str(container, "readinessProbe", "httpGet", "path") != "/readyz" || str(container, "livenessProbe", "httpGet", "path") != "/healthz" {
		t.Errorf("probes: %v %v", container["readinessProbe"], container["livenessProbe"])
	}
	if str(container, "resources", "requests", "memory") == "" || str(container, "resources", "limits", "memory") == "" {
		t.Errorf("resources: %v", container["resources"])
	}
	if !strings.Contains(env["COURIER_JOIN"], str(headless, "metadata", "name")) {
		t.Errorf("gossip seeds %q do not name the headless Service %q", env["COURIER_JOIN"], str(headless, "metadata", "name"))
	}
	if str(pdb, "spec", "maxUnavailable") == "" && str(pdb, "spec", "minAvailable") == "" {
		t.Errorf("PodDisruptionBudget without a bound: %v", pdb["spec"])
	}
}

func durationArg(t *testing.T, args []string, name string) time.Duration {
	t.Helper()
	for i, a := range args {
		if a == name && i+1 < len(args) {
			d, err := time.ParseDuration(args[i+1])
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
	}
	t.Fatalf("the manifest sets no %s", name)
	return 0
}

// str digs a string (or a number, as text) out of nested YAML maps.
func str(m map[string]any, path ...string) string {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = mm[p]
	}
	switch v := v.(type) {
	case string:
		return v
	case int:
		return strconv.Itoa(v)
	}
	return ""
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
