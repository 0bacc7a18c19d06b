module github.com/runinfer/runinfer

go 1.26.0

require google.golang.org/protobuf v1.36.12

require golang.org/x/image v0.48.0

tool google.golang.org/protobuf/cmd/protoc-gen-go
