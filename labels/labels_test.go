package labels

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// knownRenames lists the classes whose torchvision name is not one of the
// WordNet names of synset.txt: ImageNet has two "crane" classes (a bird and a
// machine) and two "maillot" classes, and torchvision disambiguates one of
// each. The value is the synset name the torchvision name stands for.
var knownRenames = map[int]struct{ torchvision, synset string }{
	134: {"crane bird", "crane"},
	639: {"maillot tank suit", "maillot"},
}

func TestImageNetHas1000NonEmptyNames(t *testing.T) {
	names := ImageNet()
	if len(names) != 1000 {
		t.Fatalf("got %d names, want 1000", len(names))
	}
	for i, n := range names {
		if n == "" || strings.TrimSpace(n) != n {
			t.Errorf("name %d is %q: empty or with surrounding space", i, n)
		}
	}
	if names[0] != "tench" || names[999] != "toilet tissue" {
		t.Errorf("first/last names are %q/%q, want tench/toilet tissue", names[0], names[999])
	}
}

func TestImageNetReturnsACopy(t *testing.T) {
	a := ImageNet()
	a[0] = "changed"
	if ImageNet()[0] != "tench" {
		t.Fatal("modifying the returned slice changed the embedded list")
	}
}

// TestImageNetIndicesMatchSynsetList checks the embedded names against the
// ImageNet synset list in ../shared (read in place): name i must be one of the
// comma-separated names on line i. That is what proves the class indices line
// up, not merely that the names look plausible.
func TestImageNetIndicesMatchSynsetList(t *testing.T) {
	path := filepath.Join("..", "..", "shared", "labels", "synset.txt")
	f, err := os.Open(path)
	if err != nil {
		if os.Getenv("RUNINFER_REQUIRE_SHARED") == "1" {
			t.Fatalf("RUNINFER_REQUIRE_SHARED=1 but %s cannot be read: %v", path, err)
		}
		t.Skipf("skipping: %s not available (%v); set RUNINFER_REQUIRE_SHARED=1 to make this a failure", path, err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	names := ImageNet()
	if len(lines) != len(names) {
		t.Fatalf("%s has %d lines, the embedded list %d names", path, len(lines), len(names))
	}
	for i, line := range lines {
		wnid, rest, ok := strings.Cut(line, " ")
		if !ok || !strings.HasPrefix(wnid, "n") {
			t.Fatalf("%s line %d: %q is not `nXXXXXXXX name, name...`", path, i+1, line)
		}
		want := names[i]
		if r, ok := knownRenames[i]; ok {
			if want != r.torchvision {
				t.Errorf("class %d: embedded %q, expected the known rename %q", i, want, r.torchvision)
				continue
			}
			want = r.synset
		}
		found := false
		for _, n := range strings.Split(rest, ",") {
			if strings.EqualFold(strings.TrimSpace(n), want) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("class %d: embedded name %q is not among the synset names %q", i, names[i], rest)
		}
	}
}

func TestForClasses(t *testing.T) {
	if l := ForClasses(1000); len(l) != 1000 || l[0] != "tench" {
		t.Errorf("ForClasses(1000) = %d names starting %q", len(l), l[0])
	}
	if l := ForClasses(1001); len(l) != 1001 || l[0] != "background" || l[1] != "tench" {
		t.Errorf("ForClasses(1001) starts %q, %q; want background, tench", l[0], l[1])
	}
	if l := ForClasses(10); l != nil {
		t.Errorf("ForClasses(10) = %v, want nil", l)
	}
}

func TestNameFallsBackToClassNumber(t *testing.T) {
	l := []string{"cat", "dog"}
	for _, c := range []struct {
		i    int
		want string
	}{{0, "cat"}, {1, "dog"}, {2, "class 2"}, {-1, "class -1"}} {
		if got := Name(l, c.i); got != c.want {
			t.Errorf("Name(%d) = %q, want %q", c.i, got, c.want)
		}
	}
	if got := Name(nil, 7); got != "class 7" {
		t.Errorf("Name(nil, 7) = %q", got)
	}
}

func TestParseKeepsInnerEmptyLinesAndDropsTrailingOnes(t *testing.T) {
	got, err := Parse(strings.NewReader("plane\r\n car \n\nbird\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"plane", "car", "", "bird"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("Parse = %q, want %q", got, want)
	}
}

func TestParseRejectsHugeLines(t *testing.T) {
	_, err := Parse(strings.NewReader(strings.Repeat("x", maxLabelLine+10)))
	if err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("err = %v, want a line-too-long error", err)
	}
}

func TestLoadRejectsDirectoriesAndMissingFiles(t *testing.T) {
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Errorf("Load(dir) err = %v, want a directory error", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "nope.txt")); err == nil {
		t.Error("Load(missing) succeeded")
	}
}
