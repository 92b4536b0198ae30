//go:build !pagedrange_static_intree

package pagedrange

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// headerPath is the installed pagedrange.h the package was built against:
// in the includedir pkg-config reports (cgo ran the same pkg-config).
func headerPath(t *testing.T) string {
	t.Helper()
	tool := os.Getenv("PKG_CONFIG")
	if tool == "" {
		tool = "pkg-config"
	}
	out, err := exec.Command(tool, "--variable=includedir", "pagedrange").Output()
	if err != nil {
		t.Fatalf("%s --variable=includedir pagedrange: %v", tool, err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "pagedrange.h")
}
