package pagedrange_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"pagedrange.dev/pagedrange"
)

const page = pagedrange.PageSize

// pattern is the initial content of guest address gpa in test memories.
func pattern(gpa uint64) byte { return byte(gpa*31 + gpa>>12) }

// access is one callback the library made.
type access struct {
	op  string // "read", "write", "fill"
	gpa uint64
	n   int
}

// guestMem is a GuestMemory over guest pages 0 .. pages-1, optionally
// failing any access that touches page failPage (when failErr != nil).
type guestMem struct {
	mu       sync.Mutex
	data     []byte
	log      []access
	failPage uint64
	failErr  error
	panicVal any
}

func newGuestMem(pages int) *guestMem {
	g := &guestMem{data: make([]byte, pages*page)}
	for i := range g.data {
		g.data[i] = pattern(uint64(i))
	}
	return g
}

// fail makes accesses touching page gpn fail with err (nil: stop failing).
func (g *guestMem) fail(gpn uint64, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failPage, g.failErr = gpn, err
}

func (g *guestMem) check(op string, gpa uint64, n int) error {
	g.log = append(g.log, access{op, gpa, n})
	if g.panicVal != nil {
		panic(g.panicVal)
	}
	if g.failErr != nil {
		lo, hi := g.failPage*page, (g.failPage+1)*page
		if gpa < hi && gpa+uint64(n) > lo {
			return g.failErr
		}
	}
	if gpa+uint64(n) > uint64(len(g.data)) {
		return pagedrange.FaultCode(99)
	}
	return nil
}

func (g *guestMem) ReadAt(gpa uint64, p []byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.check("read", gpa, len(p)); err != nil {
		return err
	}
	copy(p, g.data[gpa:])
	return nil
}

func (g *guestMem) WriteAt(gpa uint64, p []byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.check("write", gpa, len(p)); err != nil {
		return err
	}
	copy(g.data[gpa:], p)
	return nil
}

func (g *guestMem) bytesAt(gpa uint64, n int) []byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]byte(nil), g.data[gpa:gpa+uint64(n)]...)
}

func (g *guestMem) takeLog() []access {
	g.mu.Lock()
	defer g.mu.Unlock()
	l := g.log
	g.log = nil
	return l
}

// fillMem adds a Fill method to guestMem.
type fillMem struct{ *guestMem }

func (f fillMem) Fill(gpa uint64, value byte, n int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check("fill", gpa, n); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		f.data[gpa+uint64(i)] = value
	}
	return nil
}

// expected returns the bytes a window over gpns at offset/len covers, from
// the pattern, in window order.
func expected(gpns []uint64, offset, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		flat := offset + i
		gpa := gpns[flat/page]*page + uint64(flat%page)
		out[i] = pattern(gpa)
	}
	return out
}

// must returns v, panicking (which fails the test) on an error.
func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprintf("unexpected error: %v", err))
	}
	return v
}

func newRange(t testing.TB, gpns []uint64, offset, n int) *pagedrange.Range {
	t.Helper()
	r := must(pagedrange.NewRange(gpns, offset, n))
	t.Cleanup(func() { r.Close() })
	return r
}

func newMem(t testing.TB, gm pagedrange.GuestMemory) *pagedrange.Memory {
	t.Helper()
	m := must(pagedrange.NewMemory(gm))
	t.Cleanup(func() { m.Close() })
	return m
}

func wantStatus(t testing.TB, err error, sentinel *pagedrange.Error) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("error %v, want status %v", err, sentinel.Status)
	}
	var e *pagedrange.Error
	if !errors.As(err, &e) || e.Status != sentinel.Status {
		t.Fatalf("error %v is not an *Error with status %d", err, sentinel.Status)
	}
}

func readAll(t testing.TB, r interface {
	Read(*pagedrange.Memory, []byte) (int, error)
	Len() int
}, m *pagedrange.Memory) []byte {
	t.Helper()
	buf := make([]byte, r.Len())
	n, err := r.Read(m, buf)
	if err != nil || n != len(buf) {
		t.Fatalf("Read: n=%d err=%v, want %d", n, err, len(buf))
	}
	return buf
}
