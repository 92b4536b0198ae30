package pagedrange_test

import (
	"bytes"
	"io"
	"reflect"
	"testing"

	"pagedrange.dev/pagedrange"
)

func TestRanges(t *testing.T) {
	g := newGuestMem(32)
	m := newMem(t, g)
	a := newRange(t, []uint64{3, 4}, 4000, 1000) // runs 3+4 (adjacent): one run
	b := newRange(t, []uint64{9}, 10, 500)
	e := newRange(t, nil, 0, 0)
	c := newRange(t, []uint64{15, 1}, 0, page+20)
	wantA := expected([]uint64{3, 4}, 4000, 1000)
	wantB := expected([]uint64{9}, 10, 500)
	wantC := expected([]uint64{15, 1}, 0, page+20)

	rs := must(pagedrange.NewRanges(a, e, b))
	defer rs.Close()
	if rs.Len() != 1500 || rs.Count() != 2 {
		t.Fatalf("len %d count %d", rs.Len(), rs.Count())
	}
	g0 := must(rs.Get(0))
	defer g0.Close()
	g1 := must(rs.Get(1))
	defer g1.Close()
	if g0.Len() != 1000 || !reflect.DeepEqual(g0.GPNs(), []uint64{3, 4}) || g1.Len() != 500 {
		t.Fatal("Get")
	}
	_, err := rs.Get(2)
	wantStatus(t, err, pagedrange.ErrOutOfRange)
	_, err = rs.Get(-1)
	wantStatus(t, err, pagedrange.ErrInvalidArgument)
	if got := readAll(t, rs, m); !bytes.Equal(got, append(append([]byte(nil), wantA...), wantB...)) {
		t.Fatal("ranges content")
	}
	wantRuns := []pagedrange.AddressRange{{Start: 3*page + 4000, End: 3*page + 5000}, {Start: 9*page + 10, End: 9*page + 510}}
	if got := must(rs.AddressRanges()); !reflect.DeepEqual(got, wantRuns) {
		t.Fatalf("AddressRanges %v", got)
	}

	// Push appends after the end.
	if err := rs.Push(c); err != nil {
		t.Fatal(err)
	}
	if rs.Len() != 1500+page+20 || rs.Count() != 3 {
		t.Fatalf("after push: len %d count %d", rs.Len(), rs.Count())
	}
	all := append(append(append([]byte(nil), wantA...), wantB...), wantC...)
	if !bytes.Equal(readAll(t, rs, m), all) {
		t.Fatal("content after push")
	}
	if got := must(rs.AddressRanges()); len(got) != 4 || got[2] != (pagedrange.AddressRange{Start: 15 * page, End: 16 * page}) {
		t.Fatalf("runs after push %v", got)
	}

	// Skip and truncate, in place.
	if err := rs.Skip(1200); err != nil {
		t.Fatal(err)
	}
	if rs.Len() != 300+page+20 || rs.Count() != 2 {
		t.Fatalf("after skip: len %d count %d", rs.Len(), rs.Count())
	}
	if err := rs.Truncate(310); err != nil {
		t.Fatal(err)
	}
	if rs.Len() != 310 || rs.Count() != 2 || !bytes.Equal(readAll(t, rs, m), all[1200:1510]) {
		t.Fatal("after truncate")
	}
	wantStatus(t, rs.Skip(311), pagedrange.ErrOutOfRange)
	wantStatus(t, rs.Truncate(311), pagedrange.ErrOutOfRange)
	if rs.Len() != 310 {
		t.Fatal("failed skip/truncate changed the buffer")
	}
	// Push after truncate lands after the truncated end.
	if err := rs.Push(b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readAll(t, rs, m), append(append([]byte(nil), all[1200:1510]...), wantB...)) {
		t.Fatal("push after truncate")
	}

	// The same range twice.
	twice := must(pagedrange.NewRanges(b, b))
	defer twice.Close()
	if twice.Len() != 1000 || !bytes.Equal(readAll(t, twice, m), append(append([]byte(nil), wantB...), wantB...)) {
		t.Fatal("NewRanges(b, b)")
	}
	none := must(pagedrange.NewRanges())
	defer none.Close()
	if none.Len() != 0 || none.Count() != 0 || len(must(none.AddressRanges())) != 0 {
		t.Fatal("empty Ranges")
	}
}

func TestRangesTransfersAndCursors(t *testing.T) {
	g := newGuestMem(32)
	m := newMem(t, g)
	a := newRange(t, testGPNs, 100, testLen)
	b := newRange(t, []uint64{25}, 0, 1000)
	rs := must(pagedrange.NewRanges(a, b))
	defer rs.Close()
	total := testLen + 1000

	src := make([]byte, total)
	for i := range src {
		src[i] = byte(i * 13)
	}
	if n, err := rs.Write(m, src); err != nil || n != total {
		t.Fatalf("write %d %v", n, err)
	}
	if !bytes.Equal(g.bytesAt(25*page, 1000), src[testLen:]) {
		t.Fatal("second window's guest bytes")
	}
	if !bytes.Equal(readAll(t, rs, m), src) {
		t.Fatal("read back")
	}
	if n, err := rs.Fill(m, 0x11, testLen+10); err != nil || n != testLen+10 {
		t.Fatalf("fill %d %v", n, err)
	}
	if !bytes.Equal(g.bytesAt(25*page, 11), append(bytes.Repeat([]byte{0x11}, 10), src[testLen+10])) {
		t.Fatal("fill crossed windows wrong")
	}
	_, err := rs.Read(m, make([]byte, total+1))
	wantStatus(t, err, pagedrange.ErrOutOfRange)

	// Fault in the second window: done covers the whole first window.
	g.fail(25, pagedrange.FaultCode(12))
	n, err := rs.Read(m, make([]byte, total))
	if n != testLen || wantFault(t, err, 25*page).Code != 12 {
		t.Fatalf("fault: %d %v", n, err)
	}
	g.fail(0, nil)

	// Cursors over the buffer.
	w := must(rs.NewWriter(m))
	defer w.Close()
	if n, err := io.Copy(w, bytes.NewReader(src)); err != nil || n != int64(total) {
		t.Fatalf("copy in %d %v", n, err)
	}
	rd := must(rs.NewReader(m))
	defer rd.Close()
	got := make([]byte, total)
	if _, err := io.ReadFull(rd, got); err != nil || !bytes.Equal(got, src) {
		t.Fatalf("ReadFull: %v", err)
	}
	if _, err := rd.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("want EOF, got %v", err)
	}
}
