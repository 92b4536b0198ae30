package pagedrange_test

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"pagedrange.dev/pagedrange"
)

// newRAM returns mapped guest memory over pages 0 .. pages-1, filled with
// the pattern, and its bytes.
func newRAM(t testing.TB, pages int) (*pagedrange.Memory, []byte) {
	t.Helper()
	data := make([]byte, pages*page)
	for i := range data {
		data[i] = pattern(uint64(i))
	}
	m := must(pagedrange.NewMappedMemory(pagedrange.MappedRegion{GPA: 0, Data: data}))
	t.Cleanup(func() { m.Close() })
	return m, data
}

func TestBuilderJoinsSegments(t *testing.T) {
	m, data := newRAM(t, 64)
	b := must(pagedrange.NewBuilder(nil))
	defer b.Close()
	segs := []struct{ gpa, n uint64 }{
		{3*page + 100, 50},    // window 0
		{3*page + 150, 200},   // exactly contiguous: joins window 0
		{7*page + 10, 0},      // zero length: ignored
		{9 * page, page},      // does not meet 3*page+350: window 1
		{20 * page, 2 * page}, // window 1 ends on a page boundary, this starts on one: joins
		{30*page + 1, 10},     // window 2
	}
	var want []byte
	for _, s := range segs {
		if err := b.Push(s.gpa, s.n); err != nil {
			t.Fatalf("Push(%#x, %d): %v", s.gpa, s.n, err)
		}
		want = append(want, data[s.gpa:s.gpa+s.n]...)
	}
	rs := must(b.Finish())
	defer rs.Close()
	if rs.Count() != 3 || rs.Len() != len(want) {
		t.Fatalf("Count %d Len %d, want 3 and %d", rs.Count(), rs.Len(), len(want))
	}
	runs := must(rs.AddressRanges())
	wantRuns := []pagedrange.AddressRange{
		{Start: 3*page + 100, End: 3*page + 350},
		{Start: 9 * page, End: 10 * page}, {Start: 20 * page, End: 22 * page},
		{Start: 30*page + 1, End: 30*page + 11},
	}
	if !reflect.DeepEqual(runs, wantRuns) {
		t.Fatalf("runs %#x", runs)
	}
	w1 := must(rs.Get(1))
	defer w1.Close()
	if !reflect.DeepEqual(w1.GPNs(), []uint64{9, 20, 21}) || w1.Offset() != 0 || w1.Len() != 3*page {
		t.Fatalf("window 1: %v off %d len %d", w1.GPNs(), w1.Offset(), w1.Len())
	}
	if got := readAll(t, rs, m); !bytes.Equal(got, want) {
		t.Fatal("bytes read through the built buffer differ from the segments")
	}

	// The builder goes on after Finish; the first buffer keeps its windows.
	if err := b.Push(40*page, 5); err != nil {
		t.Fatal(err)
	}
	rs2 := must(b.Finish())
	defer rs2.Close()
	if rs2.Count() != 4 || rs.Count() != 3 {
		t.Fatalf("counts %d %d", rs2.Count(), rs.Count())
	}

	// Clear, then FinishInto an existing buffer: it is replaced, skip and
	// truncate included.
	if err := b.Clear(); err != nil {
		t.Fatal(err)
	}
	if err := b.Push(50*page+8, 16); err != nil {
		t.Fatal(err)
	}
	if err := rs2.Skip(3); err != nil {
		t.Fatal(err)
	}
	if err := b.FinishInto(rs2); err != nil {
		t.Fatal(err)
	}
	if rs2.Count() != 1 || rs2.Len() != 16 || !bytes.Equal(readAll(t, rs2, m), data[50*page+8:50*page+24]) {
		t.Fatalf("FinishInto: count %d len %d", rs2.Count(), rs2.Len())
	}
	// A cursor over the old content keeps it.
	rd := must(rs.NewReader(m))
	defer rd.Close()
	if err := b.FinishInto(rs); err != nil {
		t.Fatal(err)
	}
	if rs.Len() != 16 || rd.Remaining() != len(want) {
		t.Fatalf("len %d, reader remaining %d", rs.Len(), rd.Remaining())
	}
	if got := must(readAllReader(rd)); !bytes.Equal(got, want) {
		t.Fatal("reader over the replaced buffer")
	}

	empty := must(pagedrange.NewBuilder(nil))
	defer empty.Close()
	e := must(empty.Finish())
	defer e.Close()
	if e.Count() != 0 || e.Len() != 0 {
		t.Fatal("empty builder")
	}
}

func readAllReader(rd *pagedrange.Reader) ([]byte, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(rd)
	return b.Bytes(), err
}

func TestBuilderLimits(t *testing.T) {
	b := must(pagedrange.NewBuilder(&pagedrange.BuilderLimits{MaxWindows: 2, MaxPages: 3, MaxBytes: 3 * page}))
	defer b.Close()
	if err := b.Push(page, 10); err != nil {
		t.Fatal(err)
	}
	if err := b.Push(5*page, 0); err != nil { // counted, ignored
		t.Fatal(err)
	}
	if err := b.Push(10*page, 10); err != nil {
		t.Fatal(err)
	}
	// A third window: refused, with this segment's index.
	err := b.Push(20*page, 10)
	wantStatus(t, err, pagedrange.ErrLimit)
	e := err.(*pagedrange.Error)
	if e.Index != 3 || e.Op != "pr_ranges_builder_push" || !strings.Contains(e.Error(), "segment 3") {
		t.Fatalf("error %+v (%q)", e, e.Error())
	}
	// Too many pages: 10 bytes at 10*page+10 .. then 2 more pages.
	err = b.Push(10*page+10, 2*page)
	wantStatus(t, err, pagedrange.ErrLimit)
	if e := err.(*pagedrange.Error); e.Index != 4 {
		t.Fatalf("index %d", e.Index)
	}
	// gpa + n overflows.
	err = b.Push(^uint64(0)-5, 10)
	wantStatus(t, err, pagedrange.ErrOutOfRange)
	if e := err.(*pagedrange.Error); e.Index != 5 {
		t.Fatalf("index %d", e.Index)
	}
	// Nothing was added by the failures.
	rs := must(b.Finish())
	defer rs.Close()
	if rs.Count() != 2 || rs.Len() != 20 {
		t.Fatalf("after refusals: count %d len %d", rs.Count(), rs.Len())
	}
	// Clear restarts the segment count.
	if err := b.Clear(); err != nil {
		t.Fatal(err)
	}
	if err := b.Push(0, 3*page); err != nil {
		t.Fatal(err)
	}
	err = b.Push(3*page, 1) // one byte over MaxBytes
	wantStatus(t, err, pagedrange.ErrLimit)
	if e := err.(*pagedrange.Error); e.Index != 1 {
		t.Fatalf("index after Clear %d", e.Index)
	}

	zero := must(pagedrange.NewBuilder(&pagedrange.BuilderLimits{}))
	defer zero.Close()
	wantStatus(t, zero.Push(0, 1), pagedrange.ErrLimit)
	_, err = pagedrange.NewBuilder(&pagedrange.BuilderLimits{MaxWindows: -1})
	wantStatus(t, err, pagedrange.ErrInvalidArgument)
	_, err = pagedrange.NewBuilder(&pagedrange.BuilderLimits{MaxPages: -1})
	wantStatus(t, err, pagedrange.ErrInvalidArgument)
}
