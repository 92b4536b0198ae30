package pagedrange_test

import (
	"fmt"
	"io"

	"pagedrange.dev/pagedrange"
)

// ram is guest memory held in a Go slice, served through callbacks.
type ram []byte

func (m ram) ReadAt(gpa uint64, p []byte) error  { copy(p, m[gpa:]); return nil }
func (m ram) WriteAt(gpa uint64, p []byte) error { copy(m[gpa:], p); return nil }

func Example() {
	mem, _ := pagedrange.NewMemory(make(ram, 16*pagedrange.PageSize))
	defer mem.Close()
	// 12 bytes: the last 6 of guest page 3, then the first 6 of page 7.
	r, _ := pagedrange.NewRange([]uint64{3, 7}, 4090, 12)
	defer r.Close()

	w, _ := r.NewWriter(mem)
	io.WriteString(w, "hello, guest")
	w.Close()

	rd, _ := r.NewReader(mem)
	defer rd.Close()
	b, _ := io.ReadAll(rd)
	runs, _ := r.AddressRanges()
	fmt.Printf("%q %#x\n", b, runs)
	// Output: "hello, guest" [{0x3ffa 0x4000} {0x7000 0x7006}]
}
