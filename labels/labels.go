package labels

import (
	"bufio"
	_ "embed"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

//go:embed imagenet.txt
var imagenetTxt string

var imagenet = splitLines(imagenetTxt)

// ImageNetClasses is the number of ImageNet-1k classes.
const ImageNetClasses = 1000

// ImageNet returns the 1000 ImageNet-1k class names in class-index order
// (a fresh copy the caller may modify).
func ImageNet() []string {
	return append([]string(nil), imagenet...)
}

// ForClasses returns the built-in labels for a classifier with n outputs:
// the ImageNet-1k names for 1000 classes, and the same names after a leading
// "background" class for 1001 (the TensorFlow-slim convention). It returns
// nil for any other n.
func ForClasses(n int) []string {
	switch n {
	case ImageNetClasses:
		return ImageNet()
	case ImageNetClasses + 1:
		return append([]string{"background"}, imagenet...)
	}
	return nil
}

// Name returns labels[i], or "class i" when labels has no entry for i.
func Name(labels []string, i int) string {
	if i >= 0 && i < len(labels) {
		return labels[i]
	}
	return "class " + strconv.Itoa(i)
}

// maxLabelLine bounds one line of a label file, so a binary file given by
// mistake fails cleanly instead of being buffered whole.
const maxLabelLine = 64 << 10

// Parse reads one label per line. Surrounding spaces and a trailing carriage
// return are removed; a final empty line (the file's last newline) is not a
// label, but empty lines elsewhere are kept, as empty labels, so that line
// numbers stay class indices.
func Parse(r io.Reader) ([]string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLabelLine)
	var out []string
	for sc.Scan() {
		out = append(out, strings.TrimSpace(sc.Text()))
	}
	if err := sc.Err(); err != nil {
		if err == bufio.ErrTooLong {
			return nil, fmt.Errorf("line %d is longer than %d bytes (not a label file?)", len(out)+1, maxLabelLine)
		}
		return nil, err
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out, nil
}

// Load reads a label file (see Parse).
func Load(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, fmt.Errorf("%s is a directory, not a label file", path)
	}
	l, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return l, nil
}

func splitLines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	return strings.Split(s, "\n")
}
