// Package deploy holds the deployment files; its tests check them against
// the real binary and build the real image.
package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	binDir    string
	binErr    error
)

// courierBinary is a static build of courier (as the Dockerfile makes it),
// built once for the package's tests.
func courierBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "courier-deploy-")
		if binErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", filepath.Join(binDir, "courier"), "../node/cmd/courier")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = &buildError{err, string(out)}
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return filepath.Join(binDir, "courier")
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return "go build: " + e.err.Error() + "\n" + e.out }

// TestMain removes the binary after the tests; returning hands m.Run's
// result to the test wrapper.
func TestMain(m *testing.M) {
	m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
}

// tool is the path of a program the test needs; missing, the test fails
// saying which Debian package has it (make deps installs them).
func tool(t *testing.T, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: make deps installs it (apt-get install %s)", name, pkg)
	}
	return path
}
