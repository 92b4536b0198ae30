package pagedrange_test

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"pagedrange.dev/pagedrange"
)

// One Range and one Memory used from many goroutines at once: every const
// operation, in parallel, must give the same results as alone.
func TestConcurrentRangeUse(t *testing.T) {
	g := newGuestMem(32)
	m := newMem(t, g)
	r := newRange(t, testGPNs, 100, testLen)
	full := expected(testGPNs, 100, testLen)
	backing := make([]byte, 32*page)
	for i := range backing {
		backing[i] = pattern(uint64(i))
	}
	mapped := must(pagedrange.NewMappedMemory(pagedrange.MappedRegion{GPA: 0, Data: backing}))
	defer mapped.Close()

	const workers, iters = 8, 100
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			errs <- func() error {
				buf := make([]byte, testLen)
				for i := 0; i < iters; i++ {
					mem := m
					if (w+i)%2 == 0 {
						mem = mapped
					}
					if n, err := r.Read(mem, buf); err != nil || n != testLen || !bytes.Equal(buf, full) {
						return fmt.Errorf("read: %d %v", n, err)
					}
					if r.Len() != testLen || r.Offset() != 100 || !reflect.DeepEqual(r.GPNs(), testGPNs) {
						return fmt.Errorf("getters")
					}
					runs, err := r.AddressRanges()
					if err != nil || !reflect.DeepEqual(runs, testRuns) {
						return fmt.Errorf("runs: %v %v", runs, err)
					}
					off := (w*iters + i) % (testLen - 64)
					sub, err := r.Subrange(off, 64)
					if err != nil {
						return err
					}
					got := make([]byte, 64)
					_, err = sub.Read(mem, got)
					sub.Close()
					if err != nil || !bytes.Equal(got, full[off:off+64]) {
						return fmt.Errorf("subrange at %d: %v", off, err)
					}
					front, back, err := r.Split(off)
					if err != nil || front.Len() != off || back.Len() != testLen-off {
						return fmt.Errorf("split: %v", err)
					}
					front.Close()
					back.Close()
					c, err := r.Clone()
					if err != nil {
						return err
					}
					rd, err := c.NewReader(mem)
					c.Close()
					if err != nil {
						return err
					}
					n, err := rd.Read(buf[:1000])
					rd.Close()
					if err != nil || n != 1000 || !bytes.Equal(buf[:1000], full[:1000]) {
						return fmt.Errorf("reader: %d %v", n, err)
					}
				}
				return nil
			}()
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// Concurrent writers of disjoint subranges of one Ranges through one memory.
func TestConcurrentDisjointWrites(t *testing.T) {
	g := newGuestMem(32)
	m := newMem(t, g)
	r := newRange(t, testGPNs, 100, testLen)
	rs := must(pagedrange.NewRanges(r))
	defer rs.Close()
	const workers = 6
	chunk := testLen / workers
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			sub, err := r.Subrange(w*chunk, chunk)
			if err != nil {
				t.Error(err)
				return
			}
			defer sub.Close()
			if _, err := sub.Write(m, bytes.Repeat([]byte{byte(w + 1)}, chunk)); err != nil {
				t.Error(err)
			}
		}(w)
	}
	wg.Wait()
	got := readAll(t, rs, m)
	for w := 0; w < workers; w++ {
		if !bytes.Equal(got[w*chunk:(w+1)*chunk], bytes.Repeat([]byte{byte(w + 1)}, chunk)) {
			t.Fatalf("chunk %d", w)
		}
	}
}

// Close racing with use: every call either works or returns ErrClosed.
func TestCloseWhileInUse(t *testing.T) {
	g := newGuestMem(32)
	m := must(pagedrange.NewMemory(g))
	r := must(pagedrange.NewRange(testGPNs, 100, testLen))
	rs := must(pagedrange.NewRanges(r))
	full := expected(testGPNs, 100, testLen)

	const workers = 6
	started := make(chan struct{}, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			buf := make([]byte, testLen)
			for i := 0; ; i++ {
				var n int
				var err error
				if w%2 == 0 {
					n, err = r.Read(m, buf)
				} else {
					n, err = rs.Read(m, buf)
				}
				if i == 0 {
					started <- struct{}{}
				}
				if errors.Is(err, pagedrange.ErrClosed) {
					return
				}
				if err != nil || n != testLen || !bytes.Equal(buf, full) {
					t.Errorf("worker %d: %d %v", w, n, err)
					return
				}
				if w%3 == 0 {
					rs.Len()
					r.GPNs()
				}
			}
		}(w)
	}
	for w := 0; w < workers; w++ {
		<-started
	}
	// Close each handle from its own goroutine, concurrently with the reads.
	var cw sync.WaitGroup
	for _, c := range []interface{ Close() error }{m, r, rs, m, r} {
		cw.Add(1)
		go func() { defer cw.Done(); c.Close() }()
	}
	cw.Wait()
	wg.Wait()
}

// Two walkers fill the same two buffers, swapped, from two goroutines: the
// binding locks the buffers in one order, so this cannot deadlock, and
// every walk leaves each buffer holding one part of the chain.
func TestConcurrentWalksSwappedBuffers(t *testing.T) {
	m, _ := newRAM(t, 64)
	putDesc(t, m, table, 0, 10*page, 16, descNext, 1)
	putDesc(t, m, table, 1, 11*page, 512, descWrite, 0)
	a, b := newBuffers(t)
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func(swap bool) {
			defer wg.Done()
			cw := must(pagedrange.NewChainWalker(nil))
			defer cw.Close()
			readable, writable := a, b
			if swap {
				readable, writable = b, a
			}
			for j := 0; j < 200; j++ {
				if err := cw.Walk(m, table, qsize, 0, readable, writable); err != nil {
					t.Error(err)
					return
				}
			}
		}(i == 1)
	}
	wg.Wait()
	if lens := []int{a.Len(), b.Len()}; !reflect.DeepEqual(lens, []int{16, 512}) && !reflect.DeepEqual(lens, []int{512, 16}) {
		t.Fatalf("buffer lengths %v", lens)
	}
}
