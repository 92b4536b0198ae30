//go:build pagedrange_static_intree

package pagedrange

import "testing"

// headerPath is the source tree's header, which link_intree.go compiles
// against.
func headerPath(t *testing.T) string { return "../../include/pagedrange.h" }
