#!/bin/sh
# Regenerates onnx.pb.go from Debian's onnx.proto with the proto package
# renamed to runinfer.onnx. Run through `go generate ./onnx/onnxpb`.
set -eu
src=${ONNX_PROTO:-/usr/include/onnx/onnx.proto}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed -e 's/^package onnx;/package runinfer.onnx;\noption go_package = "github.com\/runinfer\/runinfer\/onnx\/onnxpb";/' \
    "$src" > "$tmp/onnx.proto"
grep -q '^package runinfer.onnx;' "$tmp/onnx.proto"
plugin=$(go tool -n protoc-gen-go)
protoc --plugin=protoc-gen-go="$plugin" -I"$tmp" --go_out="$tmp" \
    --go_opt=paths=source_relative onnx.proto
cp "$tmp/onnx.pb.go" onnx.pb.go
