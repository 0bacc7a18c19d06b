package train

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/runinfer/runinfer/ir"
)

// AllButHead is the --freeze keyword that freezes every parameter except
// those of the classifier head (see FindHead).
const AllButHead = "all-but-head"

// FreezeSpec is a parsed --freeze value: comma-separated items, each a glob
// over initializer names (path.Match syntax: * and ? do not cross a /, as
// in "features.1*" or "fire9/*"), a regular expression after "re:" (as
// "re:^features\.(0|1)\."; unanchored unless anchored), or the keyword
// all-but-head. A parameter is frozen when any item matches it.
type FreezeSpec struct {
	items      []freezeItem
	allButHead bool
}

type freezeItem struct {
	text string
	glob string
	re   *regexp.Regexp
}

// ParseFreeze parses a --freeze value. Empty freezes nothing.
func ParseFreeze(spec string) (*FreezeSpec, error) {
	f := &FreezeSpec{}
	if strings.TrimSpace(spec) == "" {
		return f, nil
	}
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		switch {
		case item == "":
			return nil, fmt.Errorf("train: --freeze %q has an empty item", spec)
		case item == AllButHead:
			f.allButHead = true
		case strings.HasPrefix(item, "re:"):
			re, err := regexp.Compile(item[3:])
			if err != nil {
				return nil, fmt.Errorf("train: --freeze item %q: %w", item, err)
			}
			f.items = append(f.items, freezeItem{text: item, re: re})
		default:
			if _, err := path.Match(item, ""); err != nil {
				return nil, fmt.Errorf("train: --freeze item %q: %w", item, err)
			}
			f.items = append(f.items, freezeItem{text: item, glob: item})
		}
	}
	return f, nil
}

// AllButHead reports whether the spec has the all-but-head keyword.
func (f *FreezeSpec) AllButHead() bool { return f.allButHead }

// Empty reports whether the spec freezes nothing.
func (f *FreezeSpec) Empty() bool { return !f.allButHead && len(f.items) == 0 }

func (it freezeItem) match(name string) bool {
	if it.re != nil {
		return it.re.MatchString(name)
	}
	ok, _ := path.Match(it.glob, name)
	return ok
}

// Matches reports whether a pattern of the spec (not the all-but-head
// keyword) matches name.
func (f *FreezeSpec) Matches(name string) bool {
	for _, it := range f.items {
		if it.match(name) {
			return true
		}
	}
	return false
}

// Apply splits params, the parameters a trainer would train (in order), into
// the trainable and the frozen ones for graph g. Every pattern must match
// at least one initializer of g (a pattern that matches nothing is most
// likely a typo); all-but-head needs a head FindHead recognises. Freezing
// every parameter is an error.
func (f *FreezeSpec) Apply(g *ir.Graph, params []string) (trainable, frozen []string, err error) {
	names := g.InitializerNames()
	for _, it := range f.items {
		if !slices.ContainsFunc(names, it.match) {
			return nil, nil, fmt.Errorf("train: --freeze %q matches no initializer (names look like %s)", it.text, sampleNames(params))
		}
	}
	keep := map[string]bool{}
	if f.allButHead {
		h, err := FindHead(g)
		if err != nil {
			return nil, nil, fmt.Errorf("train: --freeze %s: %w", AllButHead, err)
		}
		for _, p := range h.Params() {
			keep[p] = true
		}
	}
	for _, p := range params {
		if f.Matches(p) || (f.allButHead && !keep[p]) {
			frozen = append(frozen, p)
		} else {
			trainable = append(trainable, p)
		}
	}
	if len(trainable) == 0 && len(params) > 0 {
		return nil, nil, errors.New("train: --freeze freezes every parameter; nothing is left to train")
	}
	return trainable, frozen, nil
}

// sampleNames quotes up to three names, for messages.
func sampleNames(names []string) string {
	var q []string
	for _, n := range names[:min(3, len(names))] {
		q = append(q, fmt.Sprintf("%q", n))
	}
	if len(q) == 0 {
		return "(none)"
	}
	if len(names) > 3 {
		q = append(q, "...")
	}
	return strings.Join(q, ", ")
}
