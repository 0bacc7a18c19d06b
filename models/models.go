// Package models holds the models runinfer makes itself, embedded in the
// program so that it can classify something with nothing downloaded.
//
// The default model, digits.onnx, is a small convolutional network that
// recognises a digit 0–9 in a 28×28 grayscale image (light on dark or dark
// on light). It was trained from scratch by runinfer's own backward mode on
// digits rendered from the Go fonts (package models/digits); the program
// models/gen reproduces it, and models/README.md gives the recipe and its
// accuracy on a held-out set.
package models

import (
	_ "embed"
)

//go:embed digits.onnx
var digitsONNX []byte

// DefaultName is the file name of the default model in this directory.
const DefaultName = "digits.onnx"

// Default returns the default model as an ONNX file (a copy the caller may
// keep or modify). Its class names and preprocessing are in its
// metadata_props: "runinfer.labels" (a JSON array, "0" to "9") and
// "runinfer.preprocess" ({"preset":"unit","crop":1.0}: pixels scaled to
// 0..1, the image resized to 28×28 with no crop margin).
func Default() []byte {
	return append([]byte(nil), digitsONNX...)
}
