module github.com/runinfer/runinfer

go 1.26.0

require google.golang.org/protobuf v1.36.12

require (
	github.com/klauspost/cpuid/v2 v2.4.2
	golang.org/x/image v0.48.0
)

require (
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/text v0.44.0 // indirect
)

tool google.golang.org/protobuf/cmd/protoc-gen-go
