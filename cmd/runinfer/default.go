package main

import (
	"bytes"
	"errors"
	"image"
	"io"
	"os"

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/models"
	"github.com/runinfer/runinfer/onnx"
)

// defaultModelArg stands, where a model path goes, for the model embedded
// in the program (models.Default): `runinfer IMAGE...` classifies with it.
const defaultModelArg = "(built-in digits model)"

// loadDefaultModel decodes the embedded default model.
func loadDefaultModel() (*ir.Model, error) {
	m, err := onnx.Decode(models.Default())
	if err != nil {
		return nil, withPath(defaultModelArg, err, "onnx: ")
	}
	return m, nil
}

// isImageFile reports whether the file at path starts like an image in one
// of the formats classification decodes (JPEG, PNG, GIF, BMP, WebP), by
// content, whatever its name. An ONNX model (a protobuf), a missing or
// unreadable file is not.
func isImageFile(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return false
	}
	head := make([]byte, 64)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return false
	}
	// The decoders registered with package image (by imageprep) recognise
	// their formats by magic bytes; only an unknown format gives ErrFormat.
	_, _, err = image.DecodeConfig(bytes.NewReader(head[:n]))
	return !errors.Is(err, image.ErrFormat)
}
