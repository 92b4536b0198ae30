package pagedrange_test

import (
	"bytes"
	"errors"
	"testing"

	"pagedrange.dev/pagedrange"
)

func wantClosed(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, pagedrange.ErrClosed) {
		t.Fatalf("%s on a closed handle: %v, want ErrClosed", what, err)
	}
}

func TestClosedHandles(t *testing.T) {
	g := newGuestMem(32)
	m := newMem(t, g)
	mapped := must(pagedrange.NewMappedMemory(pagedrange.MappedRegion{GPA: 0, Data: make([]byte, page)}))
	open := newRange(t, testGPNs, 0, 10)
	rs := must(pagedrange.NewRanges(open))
	r := must(pagedrange.NewRange(testGPNs, 100, testLen))
	rd := must(r.NewReader(m))
	w := must(r.NewWriter(m))
	closedMem := must(pagedrange.NewMemory(g))

	for _, c := range []interface{ Close() error }{r, rs, rd, w, closedMem, mapped} {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil { // twice is harmless
			t.Fatal(err)
		}
	}

	// Range
	if r.Len() != 0 || r.Offset() != 0 || r.GPNs() != nil {
		t.Fatal("getters of a closed range")
	}
	_, err := r.Clone()
	wantClosed(t, "Clone", err)
	_, err = r.Subrange(0, 1)
	wantClosed(t, "Subrange", err)
	wantClosed(t, "Skip", r.Skip(0))
	wantClosed(t, "Truncate", r.Truncate(0))
	_, _, err = r.Split(0)
	wantClosed(t, "Split", err)
	_, err = r.AddressRanges()
	wantClosed(t, "AddressRanges", err)
	_, err = r.Read(m, make([]byte, 1))
	wantClosed(t, "Read", err)
	_, err = r.Write(m, make([]byte, 1))
	wantClosed(t, "Write", err)
	_, err = r.Fill(m, 0, 1)
	wantClosed(t, "Fill", err)
	_, _, err = r.IOVecs(m, 1)
	wantClosed(t, "IOVecs", err)
	_, err = r.NewReader(m)
	wantClosed(t, "NewReader", err)
	_, err = r.NewWriter(m)
	wantClosed(t, "NewWriter", err)
	_, err = pagedrange.NewRanges(open, r)
	wantClosed(t, "NewRanges", err)

	// A closed memory with an open range.
	_, err = open.Read(closedMem, make([]byte, 1))
	wantClosed(t, "Read via closed memory", err)
	_, err = open.Write(closedMem, make([]byte, 1))
	wantClosed(t, "Write via closed memory", err)
	_, err = open.Fill(closedMem, 0, 1)
	wantClosed(t, "Fill via closed memory", err)
	_, _, err = open.IOVecs(mapped, 1)
	wantClosed(t, "IOVecs via closed memory", err)
	_, err = open.NewReader(closedMem)
	wantClosed(t, "NewReader via closed memory", err)
	_, err = open.NewWriter(closedMem)
	wantClosed(t, "NewWriter via closed memory", err)
	_, err = open.Read(nil, make([]byte, 1))
	wantClosed(t, "Read via nil memory", err)

	// Ranges
	if rs.Len() != 0 || rs.Count() != 0 {
		t.Fatal("getters of closed ranges")
	}
	_, err = rs.Get(0)
	wantClosed(t, "Get", err)
	wantClosed(t, "Push", rs.Push(open))
	wantClosed(t, "Ranges.Skip", rs.Skip(0))
	wantClosed(t, "Ranges.Truncate", rs.Truncate(0))
	_, err = rs.AddressRanges()
	wantClosed(t, "Ranges.AddressRanges", err)
	_, err = rs.Read(m, make([]byte, 1))
	wantClosed(t, "Ranges.Read", err)
	_, err = rs.Write(m, make([]byte, 1))
	wantClosed(t, "Ranges.Write", err)
	_, err = rs.Fill(m, 0, 1)
	wantClosed(t, "Ranges.Fill", err)
	_, _, err = rs.IOVecs(m, 1)
	wantClosed(t, "Ranges.IOVecs", err)
	_, err = rs.NewReader(m)
	wantClosed(t, "Ranges.NewReader", err)
	_, err = rs.NewWriter(m)
	wantClosed(t, "Ranges.NewWriter", err)
	live := must(pagedrange.NewRanges())
	defer live.Close()
	wantClosed(t, "Push of a closed range", live.Push(r))

	// Cursors
	if rd.Remaining() != 0 || w.Remaining() != 0 {
		t.Fatal("Remaining of closed cursors")
	}
	_, err = rd.Read(make([]byte, 1))
	wantClosed(t, "Reader.Read", err)
	wantClosed(t, "Reader.Skip", rd.Skip(0))
	_, err = w.Write([]byte{1})
	wantClosed(t, "Writer.Write", err)
	_, err = w.Fill(0, 1)
	wantClosed(t, "Writer.Fill", err)

	// nil handles behave as closed ones.
	var nr *pagedrange.Range
	if nr.Len() != 0 || nr.Close() != nil {
		t.Fatal("nil range")
	}
	_, err = nr.Clone()
	wantClosed(t, "nil Clone", err)

	// Other handles are unaffected.
	if !bytes.Equal(readAll(t, open, m), expected(testGPNs, 0, 10)) {
		t.Fatal("open range broken")
	}
	_, err = pagedrange.NewMemory(nil)
	wantStatus(t, err, pagedrange.ErrNullArgument)
}

func TestClosedBuilderWalkerCursors(t *testing.T) {
	m, _ := newRAM(t, 4)
	r := newRange(t, []uint64{0}, 0, 10)
	rs := must(pagedrange.NewRanges(r))
	defer rs.Close()
	rs2 := must(pagedrange.NewRanges(r))
	defer rs2.Close()

	b := must(pagedrange.NewBuilder(nil))
	cw := must(pagedrange.NewChainWalker(nil))
	rd := must(r.NewReader(m))
	w := must(r.NewWriter(m))
	for _, c := range []interface{ Close() error }{b, cw, rd, w} {
		if c.Close() != nil || c.Close() != nil {
			t.Fatal("Close")
		}
	}
	wantClosed(t, "Builder.Push", b.Push(0, 1))
	_, err := b.Finish()
	wantClosed(t, "Builder.Finish", err)
	wantClosed(t, "Builder.FinishInto", b.FinishInto(rs))
	wantClosed(t, "Builder.Clear", b.Clear())
	wantClosed(t, "ChainWalker.Walk", cw.Walk(m, 0, 1, 0, rs, rs2))

	_, err = rd.Limit(0)
	wantClosed(t, "Reader.Limit", err)
	wantClosed(t, "Reader.Reset", rd.Reset(r))
	wantClosed(t, "Reader.ResetRanges", rd.ResetRanges(rs))
	rd.Release() // nothing to do
	_, _, err = rd.IOVecs(1)
	wantClosed(t, "Reader.IOVecs", err)
	wantClosed(t, "Writer.Skip", w.Skip(0))
	_, err = w.Limit(0)
	wantClosed(t, "Writer.Limit", err)
	wantClosed(t, "Writer.Reset", w.Reset(r))
	wantClosed(t, "Writer.ResetRanges", w.ResetRanges(rs))
	w.Release()
	_, _, err = w.IOVecs(1)
	wantClosed(t, "Writer.IOVecs", err)

	// Open handles with closed arguments.
	live := must(pagedrange.NewBuilder(nil))
	defer live.Close()
	closedRs := must(pagedrange.NewRanges())
	closedRs.Close()
	wantClosed(t, "FinishInto a closed buffer", live.FinishInto(closedRs))
	_, err = closedRs.AppendGPARanges(nil)
	wantClosed(t, "AppendGPARanges", err)
	walker := must(pagedrange.NewChainWalker(nil))
	defer walker.Close()
	wantClosed(t, "Walk into a closed buffer", walker.Walk(m, 0, 1, 0, rs, closedRs))
	wantClosed(t, "Walk into a closed buffer", walker.Walk(m, 0, 1, 0, closedRs, rs))
	closedMem := must(pagedrange.NewMappedMemory(pagedrange.MappedRegion{GPA: 0, Data: make([]byte, 8)}))
	closedMem.Close()
	wantClosed(t, "Walk through a closed memory", walker.Walk(closedMem, 0, 1, 0, rs, rs2))
	_, err = closedMem.WithDirtyFunc(func(uint64, int) {})
	wantClosed(t, "WithDirtyFunc", err)

	var nb *pagedrange.Builder
	wantClosed(t, "nil Builder", nb.Push(0, 1))
	var nw *pagedrange.ChainWalker
	wantClosed(t, "nil ChainWalker", nw.Walk(m, 0, 1, 0, rs, rs2))
	if nb.Close() != nil || nw.Close() != nil {
		t.Fatal("nil Close")
	}
}
