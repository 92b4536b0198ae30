package pagedrange_test

import (
	"bytes"
	"io"
	"testing"

	"pagedrange.dev/pagedrange"
)

func TestMappedMemory(t *testing.T) {
	low := make([]byte, 2*page) // GPA 0x1000 .. 0x3000 (pages 1, 2)
	high := make([]byte, page)  // GPA 0x10000 .. 0x11000 (page 16)
	m := must(pagedrange.NewMappedMemory(
		pagedrange.MappedRegion{GPA: 16 * page, Data: high},
		pagedrange.MappedRegion{GPA: page, Data: low},
	))
	defer m.Close()
	r := newRange(t, []uint64{1, 2, 16}, 0, 3*page)

	src := make([]byte, 3*page)
	for i := range src {
		src[i] = byte(i*5 + 1)
	}
	if n, err := r.Write(m, src); err != nil || n != 3*page {
		t.Fatalf("write %d %v", n, err)
	}
	if !bytes.Equal(low, src[:2*page]) || !bytes.Equal(high, src[2*page:]) {
		t.Fatal("Go slices do not hold the written bytes")
	}
	high[0] = 0xFF // the guest RAM is the slice
	got := readAll(t, r, m)
	if got[2*page] != 0xFF || !bytes.Equal(got[:2*page], low) {
		t.Fatal("read through mapped memory")
	}
	if n, err := r.Fill(m, 0x22, 10); err != nil || n != 10 || !bytes.Equal(low[:10], bytes.Repeat([]byte{0x22}, 10)) {
		t.Fatalf("fill %d %v", n, err)
	}

	// An unmapped page fails with code -1 at its address, bytes before it
	// transferred.
	gap := newRange(t, []uint64{2, 5}, 0, 2*page)
	n, err := gap.Read(m, make([]byte, 2*page))
	if n != page || wantFault(t, err, 5*page).Code != -1 {
		t.Fatalf("unmapped: %d %v", n, err)
	}

	// Cursors over mapped memory, outliving the Memory (slices stay pinned).
	m2 := must(pagedrange.NewMappedMemory(pagedrange.MappedRegion{GPA: page, Data: low}))
	rd := must(r.NewReader(m2))
	defer rd.Close()
	sub := newRange(t, []uint64{1}, 0, 100)
	w := must(sub.NewWriter(m2))
	defer w.Close()
	m2.Close()
	if _, err := io.Copy(w, bytes.NewReader(bytes.Repeat([]byte{0x33}, 100))); err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 2*page)
	if _, err := io.ReadFull(rd, head); err != nil || !bytes.Equal(head[:100], bytes.Repeat([]byte{0x33}, 100)) {
		t.Fatalf("reader after Close of its memory: %v", err)
	}
	_, err = rd.Read(make([]byte, 1)) // page 16 is not in m2
	wantFault(t, err, 16*page)
}

func TestMappedMemoryInvalid(t *testing.T) {
	_, err := pagedrange.NewMappedMemory(pagedrange.MappedRegion{GPA: 0, Data: nil})
	wantStatus(t, err, pagedrange.ErrInvalidArgument)
	buf := make([]byte, 2*page)
	_, err = pagedrange.NewMappedMemory(
		pagedrange.MappedRegion{GPA: 0, Data: buf},
		pagedrange.MappedRegion{GPA: page, Data: make([]byte, page)},
	)
	wantStatus(t, err, pagedrange.ErrInvalidArgument)
	empty := must(pagedrange.NewMappedMemory())
	defer empty.Close()
	r := newRange(t, []uint64{0}, 0, 1)
	_, err = r.Read(empty, make([]byte, 1))
	wantFault(t, err, 0)
}

func TestIOVecs(t *testing.T) {
	// Two regions cut from one allocation: adjacent in host memory but not
	// in guest addresses.
	backing := make([]byte, 4*page)
	lo, hi := backing[:2*page], backing[2*page:]
	m := must(pagedrange.NewMappedMemory(
		pagedrange.MappedRegion{GPA: 10 * page, Data: lo},
		pagedrange.MappedRegion{GPA: 40 * page, Data: hi},
	))
	defer m.Close()

	r := newRange(t, []uint64{11, 10, 40, 41}, 100, 3*page)
	bufs, covered, err := r.IOVecs(m, 3*page)
	if err != nil || covered != 3*page {
		t.Fatalf("IOVecs: covered %d err %v", covered, err)
	}
	// Page 11 (lo[page:]) then pages 10, 40, 41 which are contiguous on the
	// host: lo[:page] + hi; the binding splits at the slice boundary.
	if len(bufs) != 3 || len(bufs[0]) != page-100 || len(bufs[1]) != page || len(bufs[2]) != page+100 {
		t.Fatalf("bufs lengths %d", lens(bufs))
	}
	if &bufs[0][0] != &lo[page+100] || &bufs[1][0] != &lo[0] || &bufs[2][0] != &hi[0] {
		t.Fatal("iovecs do not alias the regions")
	}
	// Writing through the slices is writing the guest.
	for i, b := range bufs {
		for j := range b {
			b[j] = byte(i + 1)
		}
	}
	want := append(append(bytes.Repeat([]byte{1}, page-100), bytes.Repeat([]byte{2}, page)...), bytes.Repeat([]byte{3}, page+100)...)
	if !bytes.Equal(readAll(t, r, m), want) {
		t.Fatal("guest content after writing iovecs")
	}
	// Many small pieces, none adjacent in host memory.
	gpns := make([]uint64, 0, 40)
	for i := 0; i < 20; i++ {
		gpns = append(gpns, 41-uint64(i%2), 10+uint64(i%2)) // never host-adjacent in order
	}
	many := newRange(t, gpns, 0, 40*page)
	bufs, covered, err = many.IOVecs(m, 40*page)
	if err != nil || covered != 40*page || len(bufs) < 20 || total(bufs) != 40*page {
		t.Fatalf("many: %d bufs, covered %d, err %v", len(bufs), covered, err)
	}

	// Unmapped: covered is the bytes before the gap.
	gap := newRange(t, []uint64{10, 40, 12}, 0, 3*page) // three runs; page 12 is unmapped
	_, covered, err = gap.IOVecs(m, 3*page)
	wantStatus(t, err, pagedrange.ErrMemory)
	if covered != 2*page {
		t.Fatalf("covered %d", covered)
	}
	_, _, err = r.IOVecs(m, 3*page+1)
	wantStatus(t, err, pagedrange.ErrOutOfRange)
	// Callback memory has no host addresses.
	cm := newMem(t, newGuestMem(1))
	_, _, err = r.IOVecs(cm, 1)
	wantStatus(t, err, pagedrange.ErrInvalidArgument)

	// Ranges.IOVecs merges host-adjacent pieces of consecutive windows.
	a := newRange(t, []uint64{10}, 0, page)
	b := newRange(t, []uint64{11}, 0, page)
	rs := must(pagedrange.NewRanges(a, b))
	defer rs.Close()
	bufs, covered, err = rs.IOVecs(m, 2*page)
	if err != nil || covered != 2*page || len(bufs) != 1 || &bufs[0][0] != &lo[0] || len(bufs[0]) != 2*page {
		t.Fatalf("Ranges.IOVecs: %v %d %v", lens(bufs), covered, err)
	}
}

func lens(bufs [][]byte) []int {
	out := make([]int, len(bufs))
	for i, b := range bufs {
		out[i] = len(b)
	}
	return out
}

func total(bufs [][]byte) int {
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	return n
}
