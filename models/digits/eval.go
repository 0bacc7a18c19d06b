package digits

import (
	"context"
	"fmt"
	"sort"

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/runtime"
)

// Result counts a model's correct answers on a set, in total and by group.
type Result struct {
	Correct, Total int
	// Predicted holds the predicted class of each image.
	Predicted []int
	groups    map[string]*Group
}

// Group is the count of one subset of images (a font, a polarity).
type Group struct {
	Name           string
	Correct, Total int
}

// Accuracy returns Correct/Total (0 for an empty group).
func (g Group) Accuracy() float64 {
	if g.Total == 0 {
		return 0
	}
	return float64(g.Correct) / float64(g.Total)
}

// Accuracy returns Correct/Total (0 for an empty set).
func (r *Result) Accuracy() float64 { return Group{Correct: r.Correct, Total: r.Total}.Accuracy() }

// Groups returns the counts by polarity ("light on dark", "dark on light")
// and by font ("font goregular", ...), sorted by name.
func (r *Result) Groups() []Group {
	out := make([]Group, 0, len(r.groups))
	for _, g := range r.groups {
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// evalBatch is the number of images Evaluate runs at once.
const evalBatch = 256

// Evaluate runs every image of set through sess, a session of a model with
// the input and output of NewModel's (any names: its single input and first
// output), and counts the images whose highest-scoring class is their label.
func Evaluate(ctx context.Context, sess *runtime.Session, set *Set) (*Result, error) {
	ins := sess.Inputs()
	if len(ins) != 1 {
		return nil, fmt.Errorf("digits: the model has %d inputs, want 1", len(ins))
	}
	if len(set.Params) != set.Len() || len(set.Pix) != set.Len()*Size*Size {
		return nil, fmt.Errorf("digits: malformed set (%d labels, %d parameters, %d pixels)", set.Len(), len(set.Params), len(set.Pix))
	}
	r := &Result{Predicted: make([]int, set.Len()), groups: map[string]*Group{}}
	for lo := 0; lo < set.Len(); lo += evalBatch {
		idx := make([]int, 0, evalBatch)
		for i := lo; i < min(lo+evalBatch, set.Len()); i++ {
			idx = append(idx, i)
		}
		x, labels, err := set.Batch(idx)
		if err != nil {
			return nil, err
		}
		outs, err := sess.Run(ctx, map[string]*ir.Tensor{ins[0].Name: x})
		if err != nil {
			return nil, fmt.Errorf("digits: %w", err)
		}
		logits, err := outs[0].ToFloat32()
		if err != nil {
			return nil, fmt.Errorf("digits: %w", err)
		}
		v := logits.F32()
		if len(v) != len(idx)*Classes {
			return nil, fmt.Errorf("digits: output of shape %v for a batch of %d; want %d×%d", logits.Shape, len(idx), len(idx), Classes)
		}
		for b, i := range idx {
			row := v[b*Classes : (b+1)*Classes]
			best := 0
			for k, s := range row {
				if s > row[best] {
					best = k
				}
			}
			r.Predicted[i] = best
			ok := int64(best) == labels[b]
			p := set.Params[i]
			pol := "light on dark"
			if p.Foreground < p.Background {
				pol = "dark on light"
			}
			for _, name := range []string{pol, "font " + fontData[p.Font].name} {
				g := r.groups[name]
				if g == nil {
					g = &Group{Name: name}
					r.groups[name] = g
				}
				g.Total++
				if ok {
					g.Correct++
				}
			}
			r.Total++
			if ok {
				r.Correct++
			}
		}
	}
	return r, nil
}
