package pagedrange_test

import (
	"bytes"
	"errors"
	"reflect"
	"sort"
	"sync"
	"testing"

	"pagedrange.dev/pagedrange"
)

func TestDirtyBitmap(t *testing.T) {
	base, data := newRAM(t, 16)
	bm := pagedrange.NewDirtyBitmap(10) // pages 0 .. 9 are tracked
	if bm.Pages() != 10 {
		t.Fatal("Pages")
	}
	m := must(base.WithDirtyBitmap(bm))
	defer m.Close()

	r := newRange(t, []uint64{1, 2}, page-10, 20) // the last 10 bytes of page 1, the first 10 of page 2
	if n, err := r.Write(m, bytes.Repeat([]byte{0xAB}, 20)); n != 20 || err != nil {
		t.Fatalf("write %d %v", n, err)
	}
	if !bm.Dirty(1) || !bm.Dirty(2) || bm.Dirty(3) || bm.Dirty(100) {
		t.Fatal("Dirty")
	}
	if got := bm.Collect(); !reflect.DeepEqual(got, []uint64{1, 2}) {
		t.Fatalf("Collect %v", got)
	}
	if got := bm.Collect(); got != nil {
		t.Fatalf("second Collect %v", got)
	}
	// Reads mark nothing; writes through the base memory are not logged.
	readAll(t, r, m)
	if _, err := r.Write(base, make([]byte, 20)); err != nil {
		t.Fatal(err)
	}
	if got := bm.Collect(); got != nil {
		t.Fatalf("after a read and an unlogged write: %v", got)
	}
	// Fill, Memory.WriteAt and a cursor are logged too.
	w := newRange(t, []uint64{9, 5}, 0, page+1)
	if _, err := w.Fill(m, 1, page+1); err != nil {
		t.Fatal(err)
	}
	if _, err := m.WriteAt([]byte{1}, 7*page+3); err != nil {
		t.Fatal(err)
	}
	cur := must(newRange(t, []uint64{0}, 0, 8).NewWriter(m))
	defer cur.Close()
	if _, err := cur.Write(make([]byte, 8)); err != nil {
		t.Fatal(err)
	}
	if got := bm.Collect(); !reflect.DeepEqual(got, []uint64{0, 5, 7, 9}) {
		t.Fatalf("Collect %v", got)
	}

	// A page beyond the bitmap: its run is refused before any of its bytes
	// moves; the run before it is written and marked.
	beyond := newRange(t, []uint64{4, 12}, 0, 2*page)
	before := append([]byte(nil), data[12*page:13*page]...)
	n, err := beyond.Write(m, bytes.Repeat([]byte{0xEE}, 2*page))
	e := wantFault(t, err, 12*page)
	if n != page || !errors.Is(err, pagedrange.FaultUntracked) || e.Code != int(pagedrange.FaultUntracked) {
		t.Fatalf("beyond the bitmap: n=%d err=%v", n, err)
	}
	if !bytes.Equal(data[12*page:13*page], before) || data[4*page] != 0xEE {
		t.Fatal("the refused run moved bytes, or the run before it did not")
	}
	if got := bm.Collect(); !reflect.DeepEqual(got, []uint64{4}) {
		t.Fatalf("after a refused run: %v", got)
	}

	// Exported iovecs mark the pages they cover, when exported.
	wr := must(newRange(t, []uint64{6, 8}, 0, 2*page).NewWriter(m))
	defer wr.Close()
	bufs, covered, err := wr.IOVecs(page + 1)
	if err != nil || covered != page+1 || total(bufs) != page+1 {
		t.Fatalf("IOVecs %d %v", covered, err)
	}
	if got := bm.Collect(); !reflect.DeepEqual(got, []uint64{6, 8}) {
		t.Fatalf("after IOVecs: %v", got)
	}
	// ... and one the bitmap cannot record is refused, marking nothing.
	wb := must(beyond.NewWriter(m))
	defer wb.Close()
	bufs, _, err = wb.IOVecs(2 * page)
	wantStatus(t, err, pagedrange.ErrMemory)
	if bufs != nil || wb.Remaining() != 2*page || bm.Collect() != nil {
		t.Fatalf("refused export gave %d bufs, moved the writer (%d left) or marked pages", len(bufs), wb.Remaining())
	}

	// The logging memory outlives the memory it wraps.
	base.Close()
	if _, err := r.Write(m, []byte{1}); err != nil || !reflect.DeepEqual(bm.Collect(), []uint64{1}) {
		t.Fatalf("after closing the base: %v", err)
	}
	_, err = base.WithDirtyBitmap(bm)
	wantClosed(t, "WithDirtyBitmap", err)
	_, err = m.WithDirtyBitmap(nil)
	wantStatus(t, err, pagedrange.ErrNullArgument)
}

// Many goroutines write distinct pages through one logging memory while
// another collects: every page written is collected exactly once.
func TestDirtyBitmapConcurrentCollect(t *testing.T) {
	const pages = 256
	base, _ := newRAM(t, pages)
	bm := pagedrange.NewDirtyBitmap(pages)
	m := must(base.WithDirtyBitmap(bm))
	defer m.Close()

	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for gpn := w; gpn < pages; gpn += 4 {
				if _, err := m.WriteAt([]byte{byte(gpn)}, int64(gpn*page+gpn%page)); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	done := make(chan struct{})
	var seen []uint64
	go func() {
		defer close(done)
		for i := 0; i < 100; i++ {
			seen = append(seen, bm.Collect()...)
		}
	}()
	wg.Wait()
	<-done
	seen = append(seen, bm.Collect()...)
	sort.Slice(seen, func(i, j int) bool { return seen[i] < seen[j] })
	if len(seen) != pages {
		t.Fatalf("collected %d pages, want %d", len(seen), pages)
	}
	for i, gpn := range seen {
		if gpn != uint64(i) {
			t.Fatalf("collected %v", seen)
		}
	}
}

type dirtyRun struct {
	gpa uint64
	n   int
}

func TestDirtyFunc(t *testing.T) {
	g := newGuestMem(32)
	base := newMem(t, g)
	var mu sync.Mutex
	var runs []dirtyRun
	m := must(base.WithDirtyFunc(func(gpa uint64, n int) {
		mu.Lock()
		runs = append(runs, dirtyRun{gpa, n})
		mu.Unlock()
	}))
	defer m.Close()
	take := func() []dirtyRun {
		mu.Lock()
		defer mu.Unlock()
		r := runs
		runs = nil
		return r
	}

	r := newRange(t, testGPNs, 100, testLen)
	if n, err := r.Write(m, make([]byte, testLen)); n != testLen || err != nil {
		t.Fatal(err)
	}
	want := []dirtyRun{}
	for _, run := range testRuns {
		want = append(want, dirtyRun{run.Start, int(run.Len())})
	}
	if got := take(); !reflect.DeepEqual(got, want) {
		t.Fatalf("reported %v, want the runs %v", got, want)
	}
	readAll(t, r, m)
	if got := take(); got != nil {
		t.Fatalf("a read reported %v", got)
	}

	// A failed run is not reported; the runs before it are. The Go cause
	// of the failure comes back through the logging memory.
	errFull := errors.New("disk full")
	g.fail(20, errFull)
	n, err := r.Write(m, make([]byte, testLen))
	if n != run1 || !errors.Is(err, errFull) {
		t.Fatalf("write %d %v", n, err)
	}
	if got := take(); !reflect.DeepEqual(got, want[:1]) {
		t.Fatalf("reported %v, want %v", got, want[:1])
	}
	g.fail(0, nil)

	// A panic in the function is re-raised once the transfer returns; the
	// bytes were written.
	pm := must(base.WithDirtyFunc(func(uint64, int) { panic("log full") }))
	defer pm.Close()
	func() {
		defer func() {
			if v := recover(); v != "log full" {
				t.Fatalf("recovered %v", v)
			}
		}()
		pm.WriteAt([]byte{0x77}, 5*page)
		t.Fatal("no panic")
	}()
	if g.bytesAt(5*page, 1)[0] != 0x77 {
		t.Fatal("the write behind the panic did not happen")
	}
	// Nested logging: both functions see the write.
	var inner, outer int
	m1 := must(base.WithDirtyFunc(func(_ uint64, n int) { inner += n }))
	defer m1.Close()
	m2 := must(m1.WithDirtyFunc(func(_ uint64, n int) { outer += n }))
	defer m2.Close()
	if _, err := m2.WriteAt(make([]byte, 10), 0); err != nil || inner != 10 || outer != 10 {
		t.Fatalf("nested: %v inner %d outer %d", err, inner, outer)
	}
	_, err = base.WithDirtyFunc(nil)
	wantStatus(t, err, pagedrange.ErrNullArgument)
}
