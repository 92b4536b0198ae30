package pagedrange_test

import (
	"reflect"
	"strings"
	"testing"

	"pagedrange.dev/pagedrange"
)

// hdr is the header word of a GPA range: len | offset<<32.
func hdr(n, offset uint64) uint64 { return n | offset<<32 }

func TestParseGPARanges(t *testing.T) {
	words := []uint64{
		hdr(100, 4000), 5, 6, // 100 bytes from offset 4000 of GPN 5, into GPN 6
		hdr(page, 0), 9, // one whole page
		hdr(0, 0),            // empty: no window
		hdr(1, page-1), 0x10, // the last byte of GPN 0x10
		0xDEAD, // trailing word, not part of the list
	}
	rs, used, err := pagedrange.ParseGPARanges(words, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	if used != 8 || rs.Count() != 3 || rs.Len() != 100+page+1 {
		t.Fatalf("used %d, count %d, len %d", used, rs.Count(), rs.Len())
	}
	wantWindows := []struct {
		offset, n int
		gpns      []uint64
	}{{4000, 100, []uint64{5, 6}}, {0, page, []uint64{9}}, {page - 1, 1, []uint64{0x10}}}
	for i, want := range wantWindows {
		w := must(rs.Get(i))
		if w.Offset() != want.offset || w.Len() != want.n || !reflect.DeepEqual(w.GPNs(), want.gpns) {
			t.Fatalf("window %d: offset %d len %d gpns %v", i, w.Offset(), w.Len(), w.GPNs())
		}
		w.Close()
	}
	words[1] = 77 // the words were copied
	if w := must(rs.Get(0)); w.GPNs()[0] != 5 {
		t.Fatal("parsed buffer aliases the words")
	}

	// Writing gives the words back, minus the empty range and the trailing
	// word, appended to what dst holds.
	words[1] = 5
	out, err := rs.AppendGPARanges([]uint64{42})
	want := append([]uint64{42}, words[:5]...)
	want = append(want, words[6:8]...)
	if err != nil || !reflect.DeepEqual(out, want) {
		t.Fatalf("AppendGPARanges %#x %v, want %#x", out, err, want)
	}
	// After Skip and Truncate: the clipped windows.
	if err := rs.Skip(50); err != nil {
		t.Fatal(err)
	}
	if err := rs.Truncate(60); err != nil {
		t.Fatal(err)
	}
	out, err = rs.AppendGPARanges(nil)
	if err != nil || !reflect.DeepEqual(out, []uint64{hdr(50, 4050), 5, 6, hdr(10, 0), 9}) {
		t.Fatalf("clipped %#x %v", out, err)
	}
	// Fewer ranges than the words hold; none at all.
	two, used, err := pagedrange.ParseGPARanges(words, 2)
	if err != nil || used != 5 || two.Count() != 2 {
		t.Fatalf("two ranges: used %d err %v", used, err)
	}
	two.Close()
	none, used, err := pagedrange.ParseGPARanges(nil, 0)
	if err != nil || used != 0 || none.Len() != 0 {
		t.Fatalf("no ranges: %d %v", used, err)
	}
	if out, err := none.AppendGPARanges([]uint64{1}); err != nil || !reflect.DeepEqual(out, []uint64{1}) {
		t.Fatalf("empty encoding %v %v", out, err)
	}
	none.Close()
}

func TestParseGPARangesErrors(t *testing.T) {
	cases := []struct {
		name   string
		words  []uint64
		count  int
		status *pagedrange.Error
		index  int
	}{
		// Truncated: found where the list ends.
		{"GPN missing", []uint64{hdr(page, 0), 9, hdr(2, page-1), 3}, 2, pagedrange.ErrMalformed, 4},
		{"header missing", []uint64{hdr(8, 0), 9}, 2, pagedrange.ErrMalformed, 2},
		// Found at the bad header or GPN.
		{"offset 4096", []uint64{hdr(1, 0), 1, hdr(1, page), 2}, 2, pagedrange.ErrMalformed, 2},
		{"GPN too large", []uint64{hdr(2*page, 0), 1, pagedrange.MaxGPN + 1}, 1, pagedrange.ErrInvalidGPN, 2},
	}
	for _, c := range cases {
		rs, used, err := pagedrange.ParseGPARanges(c.words, c.count)
		if rs != nil || used != 0 {
			t.Fatalf("%s: got a buffer", c.name)
		}
		wantStatus(t, err, c.status)
		e := err.(*pagedrange.Error)
		if e.Index != c.index || e.Op != "pr_ranges_parse_gpa_ranges" || !strings.Contains(e.Error(), "word") {
			t.Fatalf("%s: index %d, want %d (%v)", c.name, e.Index, c.index, e)
		}
	}
	_, _, err := pagedrange.ParseGPARanges(nil, -1)
	wantStatus(t, err, pagedrange.ErrInvalidArgument)

	// A window longer than the 32-bit length field cannot be encoded.
	gpns := make([]uint64, 1<<20+1)
	for i := range gpns {
		gpns[i] = uint64(i)
	}
	big := newRange(t, gpns, 0, 1<<32)
	rs := must(pagedrange.NewRanges(big))
	defer rs.Close()
	dst := []uint64{7}
	out, err := rs.AppendGPARanges(dst)
	wantStatus(t, err, pagedrange.ErrOutOfRange)
	if !reflect.DeepEqual(out, dst) {
		t.Fatalf("dst changed: len %d", len(out))
	}
}
