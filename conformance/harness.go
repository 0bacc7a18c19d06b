package conformance

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/onnx"
	"github.com/runinfer/runinfer/runtime"
)

// Tolerance bounds |got-want| <= Atol + Rtol*|want| element-wise. When
// RelativeAtol is set, Atol is scaled by the largest magnitude in want (for
// whole networks, whose outputs may be logits in the thousands).
type Tolerance struct {
	Rtol, Atol   float64
	RelativeAtol bool
}

// DataSet is one test_data_set_N directory's inputs and expected outputs.
type DataSet struct {
	Dir     string
	Inputs  []Named
	Outputs []Named
}

// Named is a tensor with the name stored in its TensorProto (may be empty).
type Named struct {
	Name   string
	Tensor *ir.Tensor
}

// ErrOutOfScope marks a case whose model uses something runinfer does not
// support (an operator, domain or type): not a failure of a supported path.
var ErrOutOfScope = errors.New("out of scope")

// Case is a loaded model directory.
type Case struct {
	Dir     string
	Model   *ir.Model
	Session *runtime.Session
	Sets    []string // test_data_set_N directories, sorted
}

// Open loads dir/model.onnx and prepares a session. Unsupported features
// are reported wrapped in ErrOutOfScope.
func Open(dir string) (*Case, error) {
	m, err := onnx.Load(filepath.Join(dir, "model.onnx"))
	if err != nil {
		if errors.Is(err, onnx.ErrUnsupported) {
			return nil, fmt.Errorf("%w: %w", ErrOutOfScope, err)
		}
		return nil, err
	}
	s, err := runtime.NewSession(m, nil)
	if err != nil {
		if errors.Is(err, runtime.ErrUnsupported) {
			return nil, fmt.Errorf("%w: %w", ErrOutOfScope, err)
		}
		return nil, err
	}
	sets, _ := filepath.Glob(filepath.Join(dir, "test_data_set_*"))
	sort.Strings(sets)
	return &Case{Dir: dir, Model: m, Session: s, Sets: sets}, nil
}

// LoadDataSet reads input_N.pb and output_N.pb files in index order.
func LoadDataSet(dir string) (*DataSet, error) {
	ds := &DataSet{Dir: dir}
	for _, kind := range []string{"input", "output"} {
		for i := 0; ; i++ {
			p := filepath.Join(dir, fmt.Sprintf("%s_%d.pb", kind, i))
			if _, err := os.Stat(p); err != nil {
				break
			}
			t, name, err := onnx.ReadTensor(p)
			if err != nil {
				return nil, err
			}
			if kind == "input" {
				ds.Inputs = append(ds.Inputs, Named{name, t})
			} else {
				ds.Outputs = append(ds.Outputs, Named{name, t})
			}
		}
	}
	return ds, nil
}

// Feeds matches data-set inputs to the session's inputs: by the tensor's name
// when it names an input, else by position.
func Feeds(s *runtime.Session, in []Named) (map[string]*ir.Tensor, error) {
	decl := s.Inputs()
	names := map[string]bool{}
	for _, vi := range decl {
		names[vi.Name] = true
	}
	feeds := map[string]*ir.Tensor{}
	for i, nt := range in {
		var vi *ir.ValueInfo
		switch {
		case names[nt.Name]:
			for _, d := range decl {
				if d.Name == nt.Name {
					vi = d
				}
			}
		case i < len(decl):
			vi = decl[i]
		default:
			return nil, fmt.Errorf("input %d (%q) matches no model input", i, nt.Name)
		}
		feeds[vi.Name] = bfloat16Quirk(nt.Tensor, vi.DType)
	}
	return feeds, nil
}

// LoadDataSetFiles reads a data set from explicit input and output files.
func LoadDataSetFiles(inputs, outputs []string) (*DataSet, error) {
	ds := &DataSet{}
	for _, p := range inputs {
		t, name, err := onnx.ReadTensor(p)
		if err != nil {
			return nil, err
		}
		ds.Inputs = append(ds.Inputs, Named{name, t})
	}
	for _, p := range outputs {
		t, name, err := onnx.ReadTensor(p)
		if err != nil {
			return nil, err
		}
		ds.Outputs = append(ds.Outputs, Named{name, t})
	}
	return ds, nil
}

// RunSet runs one test_data_set directory and compares every output.
func (c *Case) RunSet(set string, tol Tolerance) error {
	_, err := c.RunSetReport(set, tol)
	return err
}

// RunSetReport is RunSet that also returns RunDataReport's relative errors.
func (c *Case) RunSetReport(set string, tol Tolerance) ([]float64, error) {
	ds, err := LoadDataSet(set)
	if err != nil {
		return nil, err
	}
	return c.RunDataReport(ds, tol)
}

// relError is max|got-want| / max|want| over finite elements.
func relError(got, want *ir.Tensor) float64 {
	maxDiff, maxRef := 0.0, 0.0
	for i := 0; i < want.Len(); i++ {
		g, w := got.Float64At(i), want.Float64At(i)
		if math.IsNaN(w) || math.IsInf(w, 0) {
			continue
		}
		maxDiff = max(maxDiff, math.Abs(g-w))
		maxRef = max(maxRef, math.Abs(w))
	}
	if maxRef == 0 {
		return maxDiff
	}
	return maxDiff / maxRef
}

// RunData runs a data set and compares every output.
func (c *Case) RunData(ds *DataSet, tol Tolerance) error {
	_, err := c.RunDataReport(ds, tol)
	return err
}

// RunDataReport is RunData that also returns, per float output, the largest
// absolute difference divided by the reference's largest magnitude.
func (c *Case) RunDataReport(ds *DataSet, tol Tolerance) ([]float64, error) {
	var rel []float64
	err := c.runData(ds, tol, &rel)
	return rel, err
}

func (c *Case) runData(ds *DataSet, tol Tolerance, rel *[]float64) error {
	feeds, err := Feeds(c.Session, ds.Inputs)
	if err != nil {
		return err
	}
	got, err := c.Session.Run(context.Background(), feeds)
	if err != nil {
		return err
	}
	if len(ds.Outputs) > len(got) {
		return fmt.Errorf("model has %d outputs, the data set expects %d", len(got), len(ds.Outputs))
	}
	var errs []string
	for i, want := range ds.Outputs {
		w := bfloat16Quirk(want.Tensor, got[i].DType)
		if got[i].DType == w.DType && w.DType.IsFloat() && got[i].Len() == w.Len() {
			*rel = append(*rel, relError(got[i], w))
		}
		if err := Compare(got[i], w, tol); err != nil {
			errs = append(errs, fmt.Sprintf("output %d (%s): %v", i, c.Session.Outputs()[i].Name, err))
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// bfloat16Quirk relabels a uint16 tensor as bfloat16 when bfloat16 is
// wanted: the ONNX 1.12 test data stores bfloat16 tensors with data type
// UINT16 (the bit patterns are right, only the type tag differs).
func bfloat16Quirk(t *ir.Tensor, want ir.DType) *ir.Tensor {
	if t.DType == ir.Uint16 && want == ir.BFloat16 {
		c := *t
		c.DType = ir.BFloat16
		return &c
	}
	return t
}

// Compare checks dtype, shape and values. Floats within tolerance (NaN
// matches NaN, infinities must match exactly); everything else exactly.
func Compare(got, want *ir.Tensor, tol Tolerance) error {
	if got.DType != want.DType {
		return fmt.Errorf("dtype %v, want %v", got.DType, want.DType)
	}
	if fmt.Sprint(got.Shape) != fmt.Sprint(want.Shape) {
		return fmt.Errorf("shape %v, want %v", got.Shape, want.Shape)
	}
	if got.Len() != want.Len() {
		return fmt.Errorf("%d elements, want %d", got.Len(), want.Len())
	}
	if gs, ok := got.Data.([]string); ok {
		ws := want.Data.([]string)
		for i := range gs {
			if gs[i] != ws[i] {
				return fmt.Errorf("element %d: %q, want %q", i, gs[i], ws[i])
			}
		}
		return nil
	}
	if !want.DType.IsFloat() {
		for i := 0; i < got.Len(); i++ {
			if g, w := got.Float64At(i), want.Float64At(i); g != w {
				return fmt.Errorf("element %d: %v, want %v", i, g, w)
			}
		}
		return nil
	}
	atol := tol.Atol
	if tol.RelativeAtol {
		m := 0.0
		for i := 0; i < want.Len(); i++ {
			if v := math.Abs(want.Float64At(i)); !math.IsInf(v, 0) && !math.IsNaN(v) {
				m = max(m, v)
			}
		}
		atol *= max(m, 1e-30)
	}
	bad, worst, worstAt := 0, 0.0, -1
	for i := 0; i < got.Len(); i++ {
		g, w := got.Float64At(i), want.Float64At(i)
		switch {
		case math.IsNaN(w) || math.IsNaN(g):
			if math.IsNaN(w) != math.IsNaN(g) {
				return fmt.Errorf("element %d: %v, want %v", i, g, w)
			}
			continue
		case math.IsInf(w, 0) || math.IsInf(g, 0):
			if g != w {
				return fmt.Errorf("element %d: %v, want %v", i, g, w)
			}
			continue
		}
		d := math.Abs(g - w)
		if d > atol+tol.Rtol*math.Abs(w) {
			bad++
			if excess := d - (atol + tol.Rtol*math.Abs(w)); excess > worst || worstAt < 0 {
				worst, worstAt = excess, i
			}
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d elements out of tolerance (rtol %g, atol %g); worst at %d: %v, want %v",
			bad, got.Len(), tol.Rtol, atol, worstAt, got.Float64At(worstAt), want.Float64At(worstAt))
	}
	return nil
}
