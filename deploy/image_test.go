package deploy

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"courier/router/testkit"
)

// The Dockerfile's runtime stage, built with podman from a static binary
// made here (the build stage needs a Go image this machine cannot pull):
// an empty image holding the binary and the CA bundle, run as a non-root
// user, with OCI labels, and small.
func TestRuntimeImageBuildsWithPodman(t *testing.T) {
	testkit.Exclusive(t, "heavy")
	podman := tool(t, "podman", "podman")
	dockerfile, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	text := string(dockerfile)
	if !strings.Contains(text, "CGO_ENABLED=0 go build") {
		t.Fatal("the build stage does not build a static binary")
	}
	i := strings.Index(text, "FROM scratch AS runtime")
	if i < 0 {
		t.Fatal("no runtime stage FROM scratch")
	}
	runtime := strings.NewReplacer(
		"COPY --from=build /etc/ssl/certs/ca-certificates.crt", "COPY ca-certificates.crt",
		"COPY --from=build /out/courier", "COPY courier",
	).Replace(text[i:])
	if strings.Contains(runtime, "--from=") {
		t.Fatalf("the runtime stage copies from elsewhere than the build stage's binary and CA bundle:\n%s", runtime)
	}
	ctx := t.TempDir()
	bin, err := os.ReadFile(courierBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"courier": bin, "ca-certificates.crt": ca, "Containerfile": []byte(runtime)} {
		if err := os.WriteFile(filepath.Join(ctx, name), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	tag := "localhost/courier-test:" + hex.EncodeToString(b[:])
	build := exec.Command(podman, "build", "--isolation", "chroot", "--build-arg", "VERSION=test", "-t", tag, "-f", filepath.Join(ctx, "Containerfile"), ctx)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("podman build: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command(podman, "rmi", "-f", tag).Run() })
	out, err := exec.Command(podman, "image", "inspect", tag).Output()
	if err != nil {
		t.Fatal(err)
	}
	var images []struct {
		Size   int64
		Config struct {
			User         string
			Entrypoint   []string
			Env          []string
			ExposedPorts map[string]any
			Labels       map[string]string
			StopSignal   string
		}
	}
	if err := json.Unmarshal(out, &images); err != nil || len(images) != 1 {
		t.Fatalf("inspect: %v %s", err, out)
	}
	img := images[0]
	c := img.Config
	t.Logf("image %s: %.1f MB, user %s, entrypoint %v", tag, float64(img.Size)/(1<<20), c.User, c.Entrypoint)
	switch {
	case c.User != "65532:65532":
		t.Errorf("user %q, want the non-root 65532:65532", c.User)
	case !slices.Equal(c.Entrypoint, []string{"/courier"}):
		t.Errorf("entrypoint %v", c.Entrypoint)
	case c.Labels["org.opencontainers.image.title"] != "courier" || c.Labels["org.opencontainers.image.version"] != "test" || c.Labels["org.opencontainers.image.licenses"] == "":
		t.Errorf("labels %v", c.Labels)
	case c.ExposedPorts["8080/tcp"] == nil || c.ExposedPorts["7946/udp"] == nil:
		t.Errorf("exposed ports %v", c.ExposedPorts)
	case !slices.Contains(c.Env, "COURIER_LISTEN=0.0.0.0:8080"):
		t.Errorf("env %v", c.Env)
	case img.Size > 40<<20:
		t.Errorf("image of %d MB, want a small one (the binary and the CA bundle)", img.Size>>20)
	}
}
