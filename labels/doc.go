// Package labels provides class-name lists for classifier outputs: the
// ImageNet-1k names embedded in the binary, and a reader for label files (one
// name per line).
//
// The ImageNet-1k names (imagenet.txt) are the short names torchvision uses
// (torchvision/models/_meta.py, _IMAGENET_CATEGORIES), generated with
// `go generate` from Debian's python3-torchvision package (see gen.go and
// gen_imagenet.go). torchvision is BSD-3-Clause licensed, Copyright (c)
// Soumith Chintala 2016 and Facebook, Inc. and its affiliates,
// https://github.com/pytorch/vision. Two names differ from the WordNet synset
// names because ImageNet has two classes each called "crane" and "maillot":
// torchvision calls class 134 "crane bird" and class 639 "maillot tank suit".
//
// This package depends only on the standard library.
package labels
