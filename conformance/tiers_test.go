package conformance

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/runinfer/runinfer/internal/testenv"
	"github.com/runinfer/runinfer/runtime"
	"github.com/runinfer/runinfer/simd"
)

// TestSharedModelsUnderEveryTier runs the first data set of every model in
// ../shared/models with the kernels of every SIMD tier this CPU has besides
// the best one (TestSharedModels covers that). The whole suite can also run
// under one tier: RUNINFER_SIMD=generic go test ./conformance.
func TestSharedModelsUnderEveryTier(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode: whole networks run in the full test (go test ./conformance)")
	}
	dirs, _ := filepath.Glob(filepath.Join(testenv.Shared(t, "models"), "*"))
	if len(dirs) == 0 {
		t.Fatal("no models found in shared/models")
	}
	type mode struct {
		name string
		opts runtime.Options
	}
	var modes []mode
	for _, tier := range simd.Available() {
		if tier != simd.Best().Tier {
			modes = append(modes, mode{tier.String(), runtime.Options{Tier: tier.String(), Threads: 2}})
		}
	}
	for _, md := range modes {
		for _, dir := range dirs {
			t.Run(md.name+"/"+filepath.Base(dir), func(t *testing.T) {
				c, err := Open(dir)
				if errors.Is(err, ErrOutOfScope) {
					t.Skip(err)
				}
				if err != nil {
					t.Fatal(err)
				}
				if len(c.Sets) == 0 {
					t.Fatal("no test_data_set_*")
				}
				opts := md.opts
				if c.Session, err = runtime.NewSession(c.Model, &opts); err != nil {
					t.Fatal(err)
				}
				if err := c.RunSet(c.Sets[0], netTol); err != nil {
					t.Fatalf("%s: %v", filepath.Base(c.Sets[0]), err)
				}
			})
		}
	}
}
