// Package testenv locates test data that lives outside the repository: the
// ../shared directory beside the project (models, images, reference
// gradients) and Debian's libonnx-testdata. A test that needs such data skips
// with a clear message when it is absent, and fails instead when
// RUNINFER_REQUIRE_SHARED=1 (as CI sets).
package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// Required reports whether missing external data must fail tests.
func Required() bool { return os.Getenv("RUNINFER_REQUIRE_SHARED") == "1" }

// moduleRoot walks up from the working directory to the directory holding go.mod.
func moduleRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// SharedDir returns the shared data directory ($RUNINFER_SHARED, else
// ../shared beside the module root), or skips (fails when required) if it
// is missing.
func SharedDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("RUNINFER_SHARED")
	if dir == "" {
		root := moduleRoot()
		if root != "" {
			dir = filepath.Join(filepath.Dir(root), "shared")
		}
	}
	if st, err := os.Stat(dir); dir == "" || err != nil || !st.IsDir() {
		missing(t, "shared test data directory (../shared beside the project, or $RUNINFER_SHARED) not found")
	}
	return dir
}

// Shared returns the path of a file or directory under the shared directory,
// skipping (or failing when required) if it does not exist.
func Shared(t testing.TB, elem ...string) string {
	t.Helper()
	p := filepath.Join(append([]string{SharedDir(t)}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		missing(t, "shared test data "+p+" not found")
	}
	return p
}

// ONNXTestData returns the root of Debian's libonnx-testdata
// ($RUNINFER_ONNX_TESTDATA, else /usr/share/libonnx-testdata/data).
func ONNXTestData(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("RUNINFER_ONNX_TESTDATA")
	if dir == "" {
		dir = "/usr/share/libonnx-testdata/data"
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		missing(t, "ONNX backend test data not found at "+dir+" (apt-get install libonnx-testdata)")
	}
	return dir
}

func missing(t testing.TB, msg string) {
	t.Helper()
	if Required() {
		t.Fatalf("%s; RUNINFER_REQUIRE_SHARED=1 makes this a failure", msg)
	}
	t.Skipf("skipping: %s (set RUNINFER_REQUIRE_SHARED=1 to make this a failure)", msg)
}
