//go:build ignore

// gen_imagenet writes the ImageNet-1k class names, one per line in class-index
// order, taken from torchvision's torchvision/models/_meta.py
// (_IMAGENET_CATEGORIES) as shipped in Debian's python3-torchvision package.
//
// Source and licence: torchvision, https://github.com/pytorch/vision,
// BSD-3-Clause, Copyright (c) Soumith Chintala 2016 and Facebook, Inc. and its
// affiliates; Debian packaging in python3-torchvision (see
// /usr/share/doc/python3-torchvision/copyright inside the package).
//
// Usage (from labels/, normally through go generate):
//
//	go run gen_imagenet.go [-deb python3-torchvision_*.deb] [-o imagenet.txt]
//
// Without -deb it runs `apt-get download python3-torchvision` in a temporary
// directory. The package is read with `dpkg-deb --fsys-tarfile`; only
// _meta.py is extracted, in memory.
package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

const metaPath = "torchvision/models/_meta.py"

func main() {
	deb := flag.String("deb", "", "python3-torchvision .deb to read (default: apt-get download it)")
	out := flag.String("o", "imagenet.txt", "output file")
	flag.Parse()
	if err := run(*deb, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gen_imagenet:", err)
		os.Exit(1)
	}
}

func run(deb, out string) error {
	if deb == "" {
		dir, err := os.MkdirTemp("", "gen_imagenet")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cmd := exec.Command("apt-get", "download", "python3-torchvision")
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("apt-get download python3-torchvision: %w", err)
		}
		m, _ := filepath.Glob(filepath.Join(dir, "python3-torchvision_*.deb"))
		if len(m) != 1 {
			return fmt.Errorf("expected one downloaded package in %s, found %d", dir, len(m))
		}
		deb = m[0]
	}
	fmt.Fprintln(os.Stderr, "gen_imagenet: reading", filepath.Base(deb))
	src, err := extractMeta(deb)
	if err != nil {
		return err
	}
	names, err := parseCategories(src)
	if err != nil {
		return err
	}
	if len(names) != 1000 {
		return fmt.Errorf("_IMAGENET_CATEGORIES has %d names, want 1000", len(names))
	}
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n)
		b.WriteByte('\n')
	}
	return os.WriteFile(out, []byte(b.String()), 0o644)
}

// extractMeta returns the contents of torchvision/models/_meta.py from the
// package's data archive.
func extractMeta(deb string) ([]byte, error) {
	cmd := exec.Command("dpkg-deb", "--fsys-tarfile", deb)
	cmd.Stderr = os.Stderr
	data, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("dpkg-deb --fsys-tarfile %s: %w", deb, err)
	}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("%s has no %s", deb, metaPath)
		}
		if err != nil {
			return nil, err
		}
		if strings.HasSuffix(h.Name, "/"+metaPath) {
			return io.ReadAll(tr)
		}
	}
}

// parseCategories reads the Python list literal assigned to
// _IMAGENET_CATEGORIES: double-quoted strings separated by commas, without
// escapes (the file has none; an escape is reported rather than guessed).
func parseCategories(src []byte) ([]string, error) {
	s := string(src)
	i := strings.Index(s, "_IMAGENET_CATEGORIES = [")
	if i < 0 {
		return nil, errors.New("_IMAGENET_CATEGORIES not found")
	}
	s = s[i+len("_IMAGENET_CATEGORIES = ["):]
	var names []string
	for {
		s = strings.TrimLeft(s, " \t\r\n,")
		switch {
		case strings.HasPrefix(s, "]"):
			return names, nil
		case strings.HasPrefix(s, `"`):
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				return nil, errors.New("unterminated string in _IMAGENET_CATEGORIES")
			}
			name := s[1 : 1+end]
			if strings.ContainsAny(name, "\\\n") {
				return nil, fmt.Errorf("unexpected escape or newline in %q", name)
			}
			names = append(names, name)
			s = s[2+end:]
		default:
			return nil, fmt.Errorf("unexpected text in _IMAGENET_CATEGORIES near %.20q", s)
		}
	}
}
