package pagedrange_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"syscall"
	"testing"

	"pagedrange.dev/pagedrange"
)

func TestMemoryReadAtWriteAt(t *testing.T) {
	ramBytes := make([]byte, 4*page) // GPA 0x10000 .. 0x14000
	mapped := must(pagedrange.NewMappedMemory(pagedrange.MappedRegion{GPA: 16 * page, Data: ramBytes}))
	defer mapped.Close()
	g := newGuestMem(32)
	callback := newMem(t, g)

	for name, m := range map[string]*pagedrange.Memory{"mapped": mapped, "callback": callback} {
		// Across a page boundary, in one access.
		gpa := int64(17*page - 3)
		if n, err := m.WriteAt([]byte("ring index"), gpa); err != nil || n != 10 {
			t.Fatalf("%s: WriteAt %d %v", name, n, err)
		}
		got := make([]byte, 10)
		if n, err := m.ReadAt(got, gpa); err != nil || n != 10 || string(got) != "ring index" {
			t.Fatalf("%s: ReadAt %d %v %q", name, n, err, got)
		}
		// io.ReaderAt users work on guest memory.
		sr := io.NewSectionReader(m, gpa+5, 5)
		if b, err := io.ReadAll(sr); err != nil || string(b) != "index" {
			t.Fatalf("%s: SectionReader %q %v", name, b, err)
		}
		_, err := m.ReadAt(got, -1)
		wantStatus(t, err, pagedrange.ErrInvalidArgument)
		_, err = m.WriteAt(got, -1)
		wantStatus(t, err, pagedrange.ErrInvalidArgument)
	}
	if !bytes.Equal(ramBytes[page-3:page+7], []byte("ring index")) {
		t.Fatal("mapped WriteAt did not reach the slice")
	}
	if !bytes.Equal(g.bytesAt(17*page-3, 10), []byte("ring index")) {
		t.Fatal("callback WriteAt did not reach the guest")
	}

	// All or nothing: an access running past the region moves no byte.
	before := append([]byte(nil), ramBytes...)
	buf := bytes.Repeat([]byte{0xAA}, 8)
	n, err := mapped.WriteAt(buf, 20*page-4)
	if n != 0 || !bytes.Equal(ramBytes, before) {
		t.Fatalf("partial write: n=%d", n)
	}
	e := wantFault(t, err, 20*page)
	if e.Op != "pr_memory_write" || !errors.Is(err, pagedrange.FaultUnmapped) || errors.Is(err, pagedrange.FaultSIGBUS) {
		t.Fatalf("fault %+v", e)
	}
	n, err = mapped.ReadAt(buf, 15*page)
	if n != 0 || wantFault(t, err, 15*page).Code != int(pagedrange.FaultUnmapped) {
		t.Fatalf("read below the region: %d %v", n, err)
	}
	// A GuestMemory error comes back with its cause.
	errGone := errors.New("gone")
	g.fail(3, errGone)
	n, err = callback.ReadAt(buf, 3*page+8)
	if n != 0 || !errors.Is(err, errGone) || wantFault(t, err, 3*page+8).Err != errGone {
		t.Fatalf("callback fault %d %v", n, err)
	}
	// Closed.
	closed := must(pagedrange.NewMappedMemory(pagedrange.MappedRegion{GPA: 0, Data: make([]byte, 8)}))
	closed.Close()
	_, err = closed.ReadAt(buf, 0)
	wantClosed(t, "ReadAt", err)
	_, err = closed.WriteAt(buf, 0)
	wantClosed(t, "WriteAt", err)
}

// A region mapped from a file that shrinks under it: without recovery the
// read would kill the process with SIGBUS.
func TestFaultRecovery(t *testing.T) {
	if err := pagedrange.InstallFaultRecovery(); err != nil {
		t.Fatalf("InstallFaultRecovery: %v", err)
	}
	if err := pagedrange.InstallFaultRecovery(); err != nil { // idempotent
		t.Fatalf("second InstallFaultRecovery: %v", err)
	}
	f, err := os.CreateTemp(t.TempDir(), "guest-ram")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(2 * page); err != nil {
		t.Fatal(err)
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, 2*page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(data)
	copy(data, bytes.Repeat([]byte{0x5C}, 2*page))
	m := must(pagedrange.NewMappedMemory(pagedrange.MappedRegion{GPA: 8 * page, Data: data}))
	defer m.Close()
	r := newRange(t, []uint64{8, 9}, 0, 2*page)

	if err := f.Truncate(page); err != nil { // page 9 is gone
		t.Fatal(err)
	}
	buf := make([]byte, 2*page)
	n, err := r.Read(m, buf)
	e := wantFault(t, err, 9*page)
	if n != page || !errors.Is(err, pagedrange.FaultSIGBUS) || e.Code != int(pagedrange.FaultSIGBUS) {
		t.Fatalf("read over the truncated page: n=%d err=%v", n, err)
	}
	if !bytes.Equal(buf[:n], bytes.Repeat([]byte{0x5C}, page)) {
		t.Fatal("bytes before the fault")
	}
	// A cursor advances by exactly the bytes before the fault.
	w := must(r.NewWriter(m))
	defer w.Close()
	n, err = w.Write(bytes.Repeat([]byte{1}, 2*page))
	if n != page || !errors.Is(err, pagedrange.FaultSIGBUS) || w.Remaining() != page {
		t.Fatalf("writer: n=%d err=%v remaining %d", n, err, w.Remaining())
	}
	// The memory keeps working for the pages that are there.
	if n, err := m.ReadAt(buf[:page], 8*page); err != nil || n != page || buf[0] != 1 {
		t.Fatalf("after the fault: %d %v", n, err)
	}

	// Faults outside the library still reach the Go runtime.
	defer func() {
		var re interface{ RuntimeError() }
		if v := recover(); v == nil || !errors.As(v.(error), &re) {
			t.Fatalf("nil dereference after InstallFaultRecovery: recovered %v", v)
		}
	}()
	var p *int
	*p = 1
}
