package pagedrange_test

import (
	"bytes"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"pagedrange.dev/pagedrange"
)

// The window used by most tests: three runs of physically adjacent pages
// (10-11, 20, 7), starting 100 bytes into page 10, three pages long.
var (
	testGPNs = []uint64{10, 11, 20, 7}
	testRuns = []pagedrange.AddressRange{
		{Start: 10*page + 100, End: 12 * page},
		{Start: 20 * page, End: 21 * page},
		{Start: 7 * page, End: 7*page + 100},
	}
)

const testLen = 3 * page

func TestVersionAndStatus(t *testing.T) {
	if v := pagedrange.Version(); !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(v) {
		t.Fatalf("Version() = %q", v)
	}
	seen := map[string]pagedrange.Status{}
	sentinels := []*pagedrange.Error{
		pagedrange.ErrNullArgument, pagedrange.ErrOutOfRange, pagedrange.ErrInvalidGPN,
		pagedrange.ErrMemory, pagedrange.ErrBufferTooSmall, pagedrange.ErrInvalidArgument,
		pagedrange.ErrAllocation, pagedrange.ErrPanic,
	}
	for i, s := range sentinels {
		if s.Status != pagedrange.Status(i+1) {
			t.Fatalf("sentinel %d has status %d", i, s.Status)
		}
		str := s.Status.String()
		if str == "" || seen[str] != 0 {
			t.Fatalf("status %d string %q empty or duplicate", s.Status, str)
		}
		seen[str] = s.Status
		for j, o := range sentinels {
			if errors.Is(s, o) != (i == j) {
				t.Fatalf("errors.Is(%v, %v) wrong", s, o)
			}
		}
	}
	if pagedrange.StatusOK.String() == "" || pagedrange.Status(1000).String() == "" {
		t.Fatal("empty status string")
	}
	e := &pagedrange.Error{Op: "pr_range_read", Status: pagedrange.StatusMemory, GPA: 0x5000, Code: 7}
	if msg := e.Error(); !strings.Contains(msg, "pr_range_read") || !strings.Contains(msg, "0x5000") ||
		!strings.Contains(msg, "code 7") || !strings.Contains(msg, pagedrange.StatusMemory.String()) {
		t.Fatalf("Error() = %q", msg)
	}
}

func TestNewRange(t *testing.T) {
	g := newGuestMem(32)
	m := newMem(t, g)
	gpns := append([]uint64(nil), testGPNs...)
	r := newRange(t, gpns, 100, testLen)
	gpns[0] = 999 // the list was copied
	if r.Len() != testLen || r.Offset() != 100 {
		t.Fatalf("Len %d Offset %d", r.Len(), r.Offset())
	}
	if got := r.GPNs(); !reflect.DeepEqual(got, testGPNs) {
		t.Fatalf("GPNs %v", got)
	}
	if got := must(r.AddressRanges()); !reflect.DeepEqual(got, testRuns) {
		t.Fatalf("AddressRanges %v", got)
	}
	if !bytes.Equal(readAll(t, r, m), expected(testGPNs, 100, testLen)) {
		t.Fatal("content differs")
	}

	// An offset past the first page drops the pages before it.
	r2 := newRange(t, testGPNs, page+5, 10)
	if r2.Offset() != 5 || !reflect.DeepEqual(r2.GPNs(), []uint64{11}) {
		t.Fatalf("offset %d gpns %v", r2.Offset(), r2.GPNs())
	}
	if got := must(r2.AddressRanges()); !reflect.DeepEqual(got, []pagedrange.AddressRange{{Start: 11*page + 5, End: 11*page + 15}}) || got[0].Len() != 10 {
		t.Fatalf("AddressRanges %v", got)
	}

	empty := newRange(t, nil, 0, 0)
	if empty.Len() != 0 || empty.GPNs() != nil {
		t.Fatalf("empty: len %d gpns %v", empty.Len(), empty.GPNs())
	}
	if got := must(empty.AddressRanges()); len(got) != 0 {
		t.Fatalf("empty AddressRanges %v", got)
	}
	if n, err := empty.Read(m, nil); n != 0 || err != nil {
		t.Fatalf("empty read %d %v", n, err)
	}

	_, err := pagedrange.NewRange(testGPNs, 0, 4*page+1)
	wantStatus(t, err, pagedrange.ErrOutOfRange)
	_, err = pagedrange.NewRange(nil, 0, 1)
	wantStatus(t, err, pagedrange.ErrOutOfRange)
	_, err = pagedrange.NewRange([]uint64{pagedrange.MaxGPN + 1}, 0, 1)
	wantStatus(t, err, pagedrange.ErrInvalidGPN)
	_, err = pagedrange.NewRange([]uint64{pagedrange.MaxGPN}, 0, page)
	wantStatus(t, err, pagedrange.ErrInvalidGPN)
	top := newRange(t, []uint64{pagedrange.MaxGPN}, 0, page-1)
	if top.Len() != page-1 {
		t.Fatal("top page range")
	}
	_, err = pagedrange.NewRange(testGPNs, -1, 1)
	wantStatus(t, err, pagedrange.ErrInvalidArgument)
	_, err = pagedrange.NewRange(testGPNs, 0, -1)
	wantStatus(t, err, pagedrange.ErrInvalidArgument)
	if e := (*pagedrange.Error)(nil); errors.As(err, &e) && e.Op != "pr_range_new" {
		t.Fatalf("Op = %q", e.Op)
	}
}

func TestCloneSubrangeSplit(t *testing.T) {
	g := newGuestMem(32)
	m := newMem(t, g)
	r := must(pagedrange.NewRange(testGPNs, 100, testLen))
	full := expected(testGPNs, 100, testLen)

	c := must(r.Clone())
	defer c.Close()
	sub := must(r.Subrange(page-100, 300))
	defer sub.Close()
	front, back, err := r.Split(5000)
	if err != nil {
		t.Fatal(err)
	}
	defer front.Close()
	defer back.Close()
	r.Close() // derived ranges share the GPN list and outlive r

	if c.Len() != testLen || c.Offset() != 100 || !reflect.DeepEqual(c.GPNs(), testGPNs) {
		t.Fatal("clone differs")
	}
	if !bytes.Equal(readAll(t, c, m), full) {
		t.Fatal("clone content")
	}
	if sub.Len() != 300 || sub.Offset() != 0 || !reflect.DeepEqual(sub.GPNs(), []uint64{11}) {
		t.Fatalf("sub len %d off %d gpns %v", sub.Len(), sub.Offset(), sub.GPNs())
	}
	if !bytes.Equal(readAll(t, sub, m), full[page-100:page+200]) {
		t.Fatal("subrange content")
	}
	if front.Len() != 5000 || back.Len() != testLen-5000 {
		t.Fatalf("split %d %d", front.Len(), back.Len())
	}
	if !bytes.Equal(append(readAll(t, front, m), readAll(t, back, m)...), full) {
		t.Fatal("split content")
	}

	_, err = c.Subrange(testLen-10, 11)
	wantStatus(t, err, pagedrange.ErrOutOfRange)
	_, err = c.Subrange(-1, 1)
	wantStatus(t, err, pagedrange.ErrInvalidArgument)
	_, _, err = c.Split(testLen + 1)
	wantStatus(t, err, pagedrange.ErrOutOfRange)
	f0, b0, err := c.Split(0)
	if err != nil || f0.Len() != 0 || b0.Len() != testLen {
		t.Fatalf("split(0): %v", err)
	}
	f0.Close()
	b0.Close()
}

func TestSkipTruncate(t *testing.T) {
	g := newGuestMem(32)
	m := newMem(t, g)
	r := newRange(t, testGPNs, 100, testLen)
	full := expected(testGPNs, 100, testLen)

	if err := r.Skip(50); err != nil {
		t.Fatal(err)
	}
	if r.Len() != testLen-50 || r.Offset() != 150 {
		t.Fatalf("after skip: len %d off %d", r.Len(), r.Offset())
	}
	if !bytes.Equal(readAll(t, r, m), full[50:]) {
		t.Fatal("skip content")
	}
	if err := r.Skip(page); err != nil { // now starts in page 11
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.GPNs(), []uint64{11, 20, 7}) {
		t.Fatalf("gpns %v", r.GPNs())
	}
	if err := r.Truncate(1000); err != nil {
		t.Fatal(err)
	}
	if r.Len() != 1000 || !bytes.Equal(readAll(t, r, m), full[50+page:50+page+1000]) {
		t.Fatal("truncate")
	}
	wantStatus(t, r.Skip(1001), pagedrange.ErrOutOfRange)
	wantStatus(t, r.Truncate(1001), pagedrange.ErrOutOfRange)
	wantStatus(t, r.Skip(-1), pagedrange.ErrInvalidArgument)
	if r.Len() != 1000 {
		t.Fatal("failed skip/truncate changed the range")
	}
	if err := r.Skip(1000); err != nil || r.Len() != 0 {
		t.Fatalf("skip all: %v len %d", err, r.Len())
	}
}

func TestRangeReadWriteFill(t *testing.T) {
	g := newGuestMem(32)
	m := newMem(t, g)
	r := newRange(t, testGPNs, 100, testLen)

	src := make([]byte, testLen)
	for i := range src {
		src[i] = byte(i*7 + 3)
	}
	n, err := r.Write(m, src)
	if err != nil || n != testLen {
		t.Fatalf("Write: %d %v", n, err)
	}
	// One callback per physically contiguous run, at the run's address.
	log := g.takeLog()
	if len(log) != len(testRuns) {
		t.Fatalf("write callbacks %v", log)
	}
	off := 0
	for i, run := range testRuns {
		if log[i] != (access{"write", run.Start, int(run.Len())}) {
			t.Fatalf("callback %d = %v, want run %v", i, log[i], run)
		}
		if !bytes.Equal(g.bytesAt(run.Start, int(run.Len())), src[off:off+int(run.Len())]) {
			t.Fatalf("guest bytes of run %d", i)
		}
		off += int(run.Len())
	}
	if got := readAll(t, r, m); !bytes.Equal(got, src) {
		t.Fatal("read back differs")
	}
	g.takeLog()

	// Shorter transfers touch only the start of the window.
	head := make([]byte, 10)
	if n, err := r.Read(m, head); err != nil || n != 10 || !bytes.Equal(head, src[:10]) {
		t.Fatalf("short read %d %v", n, err)
	}
	// Too long: out of range before any callback.
	g.takeLog()
	n, err = r.Write(m, make([]byte, testLen+1))
	wantStatus(t, err, pagedrange.ErrOutOfRange)
	if n != 0 || len(g.takeLog()) != 0 {
		t.Fatal("out-of-range write moved bytes")
	}
	_, err = r.Read(m, make([]byte, testLen+1))
	wantStatus(t, err, pagedrange.ErrOutOfRange)
	_, err = r.Fill(m, 1, testLen+1)
	wantStatus(t, err, pagedrange.ErrOutOfRange)
	_, err = r.Fill(m, 1, -1)
	wantStatus(t, err, pagedrange.ErrInvalidArgument)

	// Fill without a Filler goes through WriteAt, at most 4 KiB a call.
	if n, err := r.Fill(m, 0xAB, 9000); err != nil || n != 9000 {
		t.Fatalf("Fill: %d %v", n, err)
	}
	for _, a := range g.takeLog() {
		if a.op != "write" || a.n > 4096 {
			t.Fatalf("fallback fill callback %v", a)
		}
	}
	got := readAll(t, r, m)
	if !bytes.Equal(got[:9000], bytes.Repeat([]byte{0xAB}, 9000)) || !bytes.Equal(got[9000:], src[9000:]) {
		t.Fatal("fill content")
	}

	// With a Filler: one fill callback per run.
	fm := newMem(t, fillMem{g})
	g.takeLog()
	if n, err := r.Fill(fm, 0x5C, testLen); err != nil || n != testLen {
		t.Fatalf("Fill: %d %v", n, err)
	}
	log = g.takeLog()
	if len(log) != len(testRuns) {
		t.Fatalf("fill callbacks %v", log)
	}
	for i, run := range testRuns {
		if log[i] != (access{"fill", run.Start, int(run.Len())}) {
			t.Fatalf("fill callback %d = %v", i, log[i])
		}
	}
	if !bytes.Equal(readAll(t, r, fm), bytes.Repeat([]byte{0x5C}, testLen)) {
		t.Fatal("filler content")
	}
}
