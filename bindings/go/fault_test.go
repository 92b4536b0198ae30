package pagedrange_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"pagedrange.dev/pagedrange"
)

// run1 is the length of the first run of the test window (pages 10-11),
// i.e. what a transfer completes before failing on page 20.
var run1 = int(testRuns[0].Len())

func wantFault(t *testing.T, err error, gpa uint64) *pagedrange.Error {
	t.Helper()
	wantStatus(t, err, pagedrange.ErrMemory)
	var e *pagedrange.Error
	errors.As(err, &e)
	if e.GPA != gpa {
		t.Fatalf("fault GPA %#x, want %#x", e.GPA, gpa)
	}
	return e
}

func TestFaultCodeMidTransfer(t *testing.T) {
	g := newGuestMem(32)
	m := newMem(t, g)
	r := newRange(t, testGPNs, 100, testLen)
	full := expected(testGPNs, 100, testLen)

	g.fail(20, pagedrange.FaultCode(42))
	buf := make([]byte, testLen)
	n, err := r.Read(m, buf)
	if n != run1 {
		t.Fatalf("read done %d, want %d", n, run1)
	}
	e := wantFault(t, err, 20*page)
	if e.Code != 42 || e.Op != "pr_range_read" {
		t.Fatalf("code %d op %q", e.Code, e.Op)
	}
	if !bytes.Equal(buf[:n], full[:n]) {
		t.Fatal("bytes before the fault")
	}

	// A wrapped FaultCode also selects the code, and stays reachable.
	g.fail(7, errWrap{pagedrange.FaultCode(-5)})
	before := g.bytesAt(0, 32*page)
	src := bytes.Repeat([]byte{0xEE}, testLen)
	n, err = r.Write(m, src)
	if n != testLen-100 {
		t.Fatalf("write done %d", n)
	}
	e = wantFault(t, err, 7*page)
	if e.Code != -5 {
		t.Fatalf("code %d", e.Code)
	}
	after := g.bytesAt(0, 32*page)
	// Runs 1 and 2 were written, the failed run 3 (page 7) was not.
	for gpa := range after {
		inRun := func(run pagedrange.AddressRange) bool {
			return uint64(gpa) >= run.Start && uint64(gpa) < run.End
		}
		want := before[gpa]
		if inRun(testRuns[0]) || inRun(testRuns[1]) {
			want = 0xEE
		}
		if after[gpa] != want {
			t.Fatalf("guest byte %#x = %#x, want %#x", gpa, after[gpa], want)
		}
	}

	// Fill through a Filler fails the same way.
	fm := newMem(t, fillMem{g})
	g.fail(20, pagedrange.FaultCode(3))
	n, err = r.Fill(fm, 1, testLen)
	if n != run1 || wantFault(t, err, 20*page).Code != 3 {
		t.Fatalf("fill done %d err %v", n, err)
	}
}

type errWrap struct{ err error }

func (e errWrap) Error() string { return "wrapped: " + e.err.Error() }
func (e errWrap) Unwrap() error { return e.err }

func TestFaultGoErrorCause(t *testing.T) {
	g := newGuestMem(32)
	m := newMem(t, g)
	r := newRange(t, testGPNs, 100, testLen)
	errGone := errors.New("device gone")

	g.fail(20, errGone)
	for i := 0; i < 3; i++ { // each failure gets its own cause
		n, err := r.Read(m, make([]byte, testLen))
		if n != run1 {
			t.Fatalf("done %d", n)
		}
		e := wantFault(t, err, 20*page)
		if !errors.Is(err, errGone) || e.Err != errGone || e.Code == 0 {
			t.Fatalf("cause not carried: %v (code %d)", err, e.Code)
		}
	}
	// FaultCode(0) is not a failure code: the binding picks one.
	g.fail(20, pagedrange.FaultCode(0))
	_, err := r.Read(m, make([]byte, testLen))
	e := wantFault(t, err, 20*page)
	if e.Code == 0 || !errors.Is(err, pagedrange.FaultCode(0)) {
		t.Fatalf("FaultCode(0): %v", err)
	}
}

func TestCallbackPanicIsReraised(t *testing.T) {
	g := newGuestMem(32)
	m := newMem(t, g)
	r := newRange(t, testGPNs, 100, testLen)
	g.panicVal = "boom"
	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Fatalf("recovered %v, want boom", v)
			}
		}()
		r.Read(m, make([]byte, 10))
		t.Fatal("no panic")
	}()
	g.panicVal = nil
	if !bytes.Equal(readAll(t, r, m), expected(testGPNs, 100, testLen)) {
		t.Fatal("memory unusable after a callback panic")
	}
}

func TestReaderFaultAdvancesByDone(t *testing.T) {
	g := newGuestMem(32)
	m := newMem(t, g)
	r := newRange(t, testGPNs, 100, testLen)
	full := expected(testGPNs, 100, testLen)
	rd := must(r.NewReader(m))
	defer rd.Close()

	if err := rd.Skip(10); err != nil {
		t.Fatal(err)
	}
	g.fail(20, pagedrange.FaultCode(9))
	buf := make([]byte, testLen)
	n, err := rd.Read(buf)
	if n != run1-10 || wantFault(t, err, 20*page).Code != 9 {
		t.Fatalf("read %d err %v", n, err)
	}
	if rd.Remaining() != testLen-run1 {
		t.Fatalf("remaining %d, want %d", rd.Remaining(), testLen-run1)
	}
	// A retry resumes at the failed run.
	g.fail(0, nil)
	rest := must(io.ReadAll(rd))
	if !bytes.Equal(append(buf[:n:n], rest...), full[10:]) {
		t.Fatal("content after retry")
	}

	// The writer too.
	w := must(r.NewWriter(m))
	defer w.Close()
	g.fail(20, pagedrange.FaultCode(4))
	n, err = w.Write(bytes.Repeat([]byte{1}, testLen))
	if n != run1 || wantFault(t, err, 20*page).Code != 4 || w.Remaining() != testLen-run1 {
		t.Fatalf("write %d err %v remaining %d", n, err, w.Remaining())
	}
	g.fail(0, nil)
	if n, err := w.Write(bytes.Repeat([]byte{2}, testLen-run1)); err != nil || n != testLen-run1 {
		t.Fatalf("resume: %d %v", n, err)
	}
	want := append(bytes.Repeat([]byte{1}, run1), bytes.Repeat([]byte{2}, testLen-run1)...)
	if !bytes.Equal(readAll(t, r, m), want) {
		t.Fatal("writer content")
	}
	g.fail(7, pagedrange.FaultCode(6))
	w2 := must(r.NewWriter(m))
	defer w2.Close()
	n, err = w2.Fill(0, testLen)
	if n != testLen-100 || wantFault(t, err, 7*page).Code != 6 || w2.Remaining() != 100 {
		t.Fatalf("fill %d err %v remaining %d", n, err, w2.Remaining())
	}
}
