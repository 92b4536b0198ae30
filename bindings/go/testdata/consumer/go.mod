// A project outside the pagedrange source tree that uses the Go binding:
// scripts/test-go.sh copies bindings/go to ../pagedrange and this module
// to ./, and builds it against an installed library (pkg-config).
module example.com/pagedrange-consumer

go 1.23

require pagedrange.dev/pagedrange v0.0.0

replace pagedrange.dev/pagedrange => ../pagedrange
