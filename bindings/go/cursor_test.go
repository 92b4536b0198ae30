package pagedrange_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"pagedrange.dev/pagedrange"
)

func TestReader(t *testing.T) {
	g := newGuestMem(32)
	m := newMem(t, g)
	r := newRange(t, testGPNs, 100, testLen)
	full := expected(testGPNs, 100, testLen)

	rd := must(r.NewReader(m))
	defer rd.Close()
	if rd.Remaining() != testLen {
		t.Fatal("remaining")
	}
	head := make([]byte, 5000)
	if n, err := io.ReadFull(rd, head); err != nil || n != 5000 || !bytes.Equal(head, full[:5000]) {
		t.Fatalf("ReadFull %d %v", n, err)
	}
	if err := rd.Skip(1000); err != nil || rd.Remaining() != testLen-6000 {
		t.Fatalf("skip: %v", err)
	}
	wantStatus(t, rd.Skip(testLen), pagedrange.ErrOutOfRange)
	if rd.Remaining() != testLen-6000 {
		t.Fatal("failed skip moved the reader")
	}
	var out bytes.Buffer
	if n, err := io.Copy(&out, rd); err != nil || n != testLen-6000 || !bytes.Equal(out.Bytes(), full[6000:]) {
		t.Fatalf("io.Copy %d %v", n, err)
	}
	if n, err := rd.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("at end: %d %v", n, err)
	}
	if n, err := rd.Read(nil); n != 0 || err != nil {
		t.Fatalf("empty read at end: %d %v", n, err)
	}
	_, err := io.ReadFull(rd, make([]byte, 1))
	if err != io.EOF {
		t.Fatalf("ReadFull at end: %v", err)
	}
}

func TestWriter(t *testing.T) {
	g := newGuestMem(32)
	m := newMem(t, g)
	r := newRange(t, testGPNs, 100, testLen)
	src := make([]byte, testLen)
	for i := range src {
		src[i] = byte(i ^ 0x5A)
	}

	w := must(r.NewWriter(m))
	defer w.Close()
	if n, err := io.Copy(w, bytes.NewReader(src[:7000])); err != nil || n != 7000 || w.Remaining() != testLen-7000 {
		t.Fatalf("io.Copy %d %v", n, err)
	}
	if n, err := w.Fill(0xCC, 100); err != nil || n != 100 {
		t.Fatalf("fill %d %v", n, err)
	}
	_, err := w.Fill(0, testLen)
	wantStatus(t, err, pagedrange.ErrOutOfRange)
	// Longer than what is left: the part that fits is written.
	n, err := w.Write(src[7100:])
	if n != testLen-7100 || err != nil {
		t.Fatalf("exact write %d %v", n, err)
	}
	n, err = w.Write([]byte{1, 2})
	wantStatus(t, err, pagedrange.ErrOutOfRange)
	if n != 0 || w.Remaining() != 0 {
		t.Fatalf("write past end: n=%d", n)
	}
	want := append(append(append([]byte(nil), src[:7000]...), bytes.Repeat([]byte{0xCC}, 100)...), src[7100:]...)
	if !bytes.Equal(readAll(t, r, m), want) {
		t.Fatal("content")
	}

	// io.Copy of a longer source stops with the out-of-range error after
	// filling the window.
	w2 := must(r.NewWriter(m))
	defer w2.Close()
	long := bytes.Repeat([]byte{7}, testLen+500)
	n64, err := io.Copy(w2, bytes.NewReader(long))
	wantStatus(t, err, pagedrange.ErrOutOfRange)
	if n64 != testLen || w2.Remaining() != 0 {
		t.Fatalf("copied %d", n64)
	}
	if !bytes.Equal(readAll(t, r, m), long[:testLen]) {
		t.Fatal("content after long copy")
	}
}

func TestCursorsOutliveHandles(t *testing.T) {
	g := newGuestMem(32)
	m := must(pagedrange.NewMemory(g))
	r := must(pagedrange.NewRange(testGPNs, 100, testLen))
	rd := must(r.NewReader(m))
	defer rd.Close()
	w := must(r.NewWriter(m))
	defer w.Close()
	r.Close()
	m.Close()
	if n, err := w.Write(bytes.Repeat([]byte{9}, testLen)); err != nil || n != testLen {
		t.Fatalf("write after closing range and memory: %d %v", n, err)
	}
	got := must(io.ReadAll(rd))
	if !bytes.Equal(got, bytes.Repeat([]byte{9}, testLen)) {
		t.Fatal("reader content")
	}
}

// A virtio-blk style request: a header, data, a status byte, split with
// Limit.
func TestCursorLimit(t *testing.T) {
	g := newGuestMem(32)
	m := newMem(t, g)
	r := newRange(t, testGPNs, 100, testLen)
	full := expected(testGPNs, 100, testLen)

	rd := must(r.NewReader(m))
	defer rd.Close()
	hdr := must(rd.Limit(16))
	defer hdr.Close()
	data := must(rd.Limit(testLen - 17))
	if hdr.Remaining() != 16 || data.Remaining() != testLen-17 || rd.Remaining() != 1 {
		t.Fatalf("remaining %d %d %d", hdr.Remaining(), data.Remaining(), rd.Remaining())
	}
	_, err := rd.Limit(2)
	wantStatus(t, err, pagedrange.ErrOutOfRange)
	if rd.Remaining() != 1 {
		t.Fatal("a refused Limit moved the reader")
	}
	_, err = rd.Limit(-1)
	wantStatus(t, err, pagedrange.ErrInvalidArgument)
	// The pieces read their own bytes, in any order; data outlives rd.
	status := must(io.ReadAll(rd))
	rd.Close()
	got := must(io.ReadAll(data))
	data.Close()
	head := must(io.ReadAll(hdr))
	if !bytes.Equal(head, full[:16]) || !bytes.Equal(got, full[16:testLen-1]) || !bytes.Equal(status, full[testLen-1:]) {
		t.Fatal("limited readers read the wrong bytes")
	}

	w := must(r.NewWriter(m))
	defer w.Close()
	if err := w.Skip(16); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, w.Skip(testLen), pagedrange.ErrOutOfRange)
	body := must(w.Limit(100))
	defer body.Close()
	if _, err := w.Write([]byte{0xEE}); err != nil { // the byte after the body
		t.Fatal(err)
	}
	if n, err := body.Write(bytes.Repeat([]byte{0x11}, 101)); n != 100 || !errors.Is(err, pagedrange.ErrOutOfRange) {
		t.Fatalf("body write %d %v", n, err)
	}
	got = readAll(t, r, m)
	want := append(append(append([]byte(nil), full[:16]...), bytes.Repeat([]byte{0x11}, 100)...), 0xEE)
	if !bytes.Equal(got[:117], want) || !bytes.Equal(got[117:], full[117:]) {
		t.Fatal("limited writer wrote the wrong bytes")
	}
	_, err = w.Limit(testLen)
	wantStatus(t, err, pagedrange.ErrOutOfRange)
}

func TestCursorResetRelease(t *testing.T) {
	g := newGuestMem(32)
	m := newMem(t, g)
	a := newRange(t, []uint64{1}, 10, 20)
	b := newRange(t, []uint64{2, 3}, page-5, 10)
	rs := must(pagedrange.NewRanges(a, b))
	defer rs.Close()

	rd := must(a.NewReader(m))
	defer rd.Close()
	if err := rd.Skip(5); err != nil {
		t.Fatal(err)
	}
	if err := rd.Reset(b); err != nil {
		t.Fatal(err)
	}
	if got := must(io.ReadAll(rd)); !bytes.Equal(got, expected([]uint64{2, 3}, page-5, 10)) {
		t.Fatal("after Reset")
	}
	if err := rd.ResetRanges(rs); err != nil {
		t.Fatal(err)
	}
	if got := must(io.ReadAll(rd)); !bytes.Equal(got, append(expected([]uint64{1}, 10, 20), expected([]uint64{2, 3}, page-5, 10)...)) {
		t.Fatal("after ResetRanges")
	}
	if err := rd.Reset(a); err != nil {
		t.Fatal(err)
	}
	rd.Release()
	if n, err := rd.Read(make([]byte, 1)); rd.Remaining() != 0 || n != 0 || err != io.EOF {
		t.Fatalf("released reader: remaining %d, read %d %v", rd.Remaining(), n, err)
	}
	if err := rd.Reset(a); err != nil || rd.Remaining() != 20 {
		t.Fatalf("reset after release: %v", err)
	}

	w := must(a.NewWriter(m))
	defer w.Close()
	if err := w.ResetRanges(rs); err != nil || w.Remaining() != 30 {
		t.Fatalf("writer ResetRanges: %v", err)
	}
	if _, err := w.Write(bytes.Repeat([]byte{0x42}, 30)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g.bytesAt(page+10, 20), bytes.Repeat([]byte{0x42}, 20)) || !bytes.Equal(g.bytesAt(3*page, 5), bytes.Repeat([]byte{0x42}, 5)) {
		t.Fatal("writer after ResetRanges wrote elsewhere")
	}
	if err := w.Reset(b); err != nil || w.Remaining() != 10 {
		t.Fatalf("writer Reset: %v", err)
	}
	w.Release()
	if n, err := w.Write([]byte{1}); w.Remaining() != 0 || n != 0 || !errors.Is(err, pagedrange.ErrOutOfRange) {
		t.Fatalf("released writer: %d %v", n, err)
	}
	closed := must(pagedrange.NewRange([]uint64{1}, 0, 1))
	closed.Close()
	wantClosed(t, "Reset to a closed range", rd.Reset(closed))
	wantClosed(t, "Reset to a closed range", w.Reset(closed))
}

func TestCursorIOVecs(t *testing.T) {
	backing := make([]byte, 4*page)
	m := must(pagedrange.NewMappedMemory(pagedrange.MappedRegion{GPA: 10 * page, Data: backing}))
	defer m.Close()
	r := newRange(t, []uint64{12, 10, 11, 20}, 100, 3*page)

	rd := must(r.NewReader(m))
	defer rd.Close()
	bufs, covered, err := rd.IOVecs(page)
	// Page 12 from byte 100, then pages 10-11, adjacent in host memory.
	if err != nil || covered != page || len(bufs) != 2 || &bufs[0][0] != &backing[2*page+100] || &bufs[1][0] != &backing[0] || len(bufs[1]) != 100 {
		t.Fatalf("IOVecs: %v %d %v", lens(bufs), covered, err)
	}
	if rd.Remaining() != 2*page {
		t.Fatal("the reader did not advance")
	}
	// The rest runs into page 20, which is not mapped: nothing is exported
	// and the reader stays.
	bufs, covered, err = rd.IOVecs(2 * page)
	wantStatus(t, err, pagedrange.ErrMemory)
	if bufs != nil || covered != 2*page-100 || rd.Remaining() != 2*page {
		t.Fatalf("unmapped: %v covered %d remaining %d", lens(bufs), covered, rd.Remaining())
	}
	if _, _, err := rd.IOVecs(3 * page); !errors.Is(err, pagedrange.ErrOutOfRange) {
		t.Fatalf("past the end: %v", err)
	}

	w := must(r.NewWriter(m))
	defer w.Close()
	bufs, covered, err = w.IOVecs(2*page - 100)
	if err != nil || covered != 2*page-100 || total(bufs) != covered {
		t.Fatalf("writer IOVecs %d %v", covered, err)
	}
	for _, b := range bufs { // readv into guest pages
		for i := range b {
			b[i] = 0x99
		}
	}
	if got := readAll(t, must(r.Subrange(0, 2*page-100)), m); !bytes.Equal(got, bytes.Repeat([]byte{0x99}, 2*page-100)) {
		t.Fatal("bytes written through the writer's iovecs")
	}
	cm := newMem(t, newGuestMem(32))
	cr := must(r.NewReader(cm))
	defer cr.Close()
	_, _, err = cr.IOVecs(1)
	wantStatus(t, err, pagedrange.ErrInvalidArgument)
}

// Regions smaller than a page split every page into several host pieces,
// more than the binding's first array holds: a range is exported again
// with a larger array, a cursor goes on from where it stopped.
func TestIOVecsManyPieces(t *testing.T) {
	const pieces = 8 // per page
	const size = page / pieces
	// Cut from one allocation with gaps, so that no two are adjacent in
	// host memory (the library would merge them): 40 pages take 320
	// entries, far more than the first array.
	backing := make([]byte, 2*page)
	var regions []pagedrange.MappedRegion
	for i := 0; i < pieces; i++ {
		regions = append(regions, pagedrange.MappedRegion{GPA: uint64(i * size), Data: backing[2*i*size : 2*i*size+size]})
	}
	m := must(pagedrange.NewMappedMemory(regions...))
	defer m.Close()
	gpns := make([]uint64, 40) // page 0, forty times
	r := newRange(t, gpns, 0, 40*page)

	check := func(what string, bufs [][]byte, covered int, err error) {
		t.Helper()
		if err != nil || covered != 40*page || len(bufs) != 40*pieces || total(bufs) != 40*page {
			t.Fatalf("%s: %d bufs, covered %d, %v", what, len(bufs), covered, err)
		}
		for i, b := range bufs {
			if &b[0] != &regions[i%pieces].Data[0] || len(b) != size {
				t.Fatalf("%s: piece %d is not region %d", what, i, i%pieces)
			}
		}
	}
	bufs, covered, err := r.IOVecs(m, 40*page)
	check("Range.IOVecs", bufs, covered, err)
	rs := must(pagedrange.NewRanges(r))
	defer rs.Close()
	bufs, covered, err = rs.IOVecs(m, 40*page)
	check("Ranges.IOVecs", bufs, covered, err)
	rd := must(r.NewReader(m))
	defer rd.Close()
	bufs, covered, err = rd.IOVecs(40 * page)
	check("Reader.IOVecs", bufs, covered, err)
	if rd.Remaining() != 0 {
		t.Fatal("reader not at the end")
	}
	w := must(r.NewWriter(m))
	defer w.Close()
	bufs, covered, err = w.IOVecs(40 * page)
	check("Writer.IOVecs", bufs, covered, err)
}
