package pagedrange_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"

	"pagedrange.dev/pagedrange"
)

// Virtio split-queue descriptor flags.
const (
	descNext     = 1
	descWrite    = 2
	descIndirect = 4
)

// putDesc writes descriptor i of the table at guest address table, as a
// driver does: 16 little-endian bytes.
func putDesc(t testing.TB, m *pagedrange.Memory, table uint64, i uint16, addr uint64, n uint32, flags, next uint16) {
	t.Helper()
	var d [16]byte
	binary.LittleEndian.PutUint64(d[0:], addr)
	binary.LittleEndian.PutUint32(d[8:], n)
	binary.LittleEndian.PutUint16(d[12:], flags)
	binary.LittleEndian.PutUint16(d[14:], next)
	if _, err := m.WriteAt(d[:], int64(table)+16*int64(i)); err != nil {
		t.Fatal(err)
	}
}

func newBuffers(t testing.TB) (readable, writable *pagedrange.Ranges) {
	t.Helper()
	readable, writable = must(pagedrange.NewRanges()), must(pagedrange.NewRanges())
	t.Cleanup(func() { readable.Close(); writable.Close() })
	return readable, writable
}

const (
	table    = 1 * page // descriptor table, 16 entries
	indTable = 2 * page // an indirect table
	qsize    = 16
)

func TestChainWalker(t *testing.T) {
	m, data := newRAM(t, 64)
	cw := must(pagedrange.NewChainWalker(nil))
	defer cw.Close()
	readable, writable := newBuffers(t)

	// head 3 -> 5 -> 9 -> 12: a 16-byte header, two device-writable data
	// segments that meet in guest memory (one window), a status byte.
	putDesc(t, m, table, 3, 10*page, 16, descNext, 5)
	putDesc(t, m, table, 5, 11*page+100, 1000, descNext|descWrite, 9)
	putDesc(t, m, table, 9, 11*page+1100, 500, descNext|descWrite, 12)
	putDesc(t, m, table, 12, 30*page+7, 1, descWrite, 0xBEEF) // next ignored without NEXT
	if err := cw.Walk(m, table, qsize, 3, readable, writable); err != nil {
		t.Fatal(err)
	}
	if readable.Count() != 1 || readable.Len() != 16 {
		t.Fatalf("readable: %d windows, %d bytes", readable.Count(), readable.Len())
	}
	wantRuns := []pagedrange.AddressRange{{Start: 11*page + 100, End: 11*page + 1600}, {Start: 30*page + 7, End: 30*page + 8}}
	if runs := must(writable.AddressRanges()); writable.Count() != 2 || !reflect.DeepEqual(runs, wantRuns) {
		t.Fatalf("writable: %d windows, runs %#x", writable.Count(), runs)
	}
	if !bytes.Equal(readAll(t, readable, m), data[10*page:10*page+16]) {
		t.Fatal("header bytes")
	}
	// The device answers through the writable part.
	w := must(writable.NewWriter(m))
	if n, err := w.Write(bytes.Repeat([]byte{0xD0}, 1501)); n != 1501 || err != nil {
		t.Fatalf("write %d %v", n, err)
	}
	w.Close()
	if !bytes.Equal(data[11*page+100:11*page+1600], bytes.Repeat([]byte{0xD0}, 1500)) || data[30*page+7] != 0xD0 {
		t.Fatal("reply bytes not in guest memory")
	}

	// Through an indirect table: entries 0 -> 2 -> 1.
	putDesc(t, m, table, 0, indTable, 3*16, descIndirect, 0)
	putDesc(t, m, indTable, 0, 40*page, 8, descNext, 2)
	putDesc(t, m, indTable, 2, 41*page, 2*page, descNext|descWrite, 1)
	putDesc(t, m, indTable, 1, 50*page+3, 1, descWrite, 0) // not on a page boundary: a second window
	if err := cw.Walk(m, table, qsize, 0, readable, writable); err != nil {
		t.Fatal(err)
	}
	if readable.Len() != 8 || writable.Len() != 2*page+1 || writable.Count() != 2 {
		t.Fatalf("indirect: readable %d, writable %d bytes in %d windows", readable.Len(), writable.Len(), writable.Count())
	}

	// The two parts must be different buffers.
	err := cw.Walk(m, table, qsize, 3, readable, readable)
	wantStatus(t, err, pagedrange.ErrInvalidArgument)
}

func TestChainWalkerRefusals(t *testing.T) {
	m, _ := newRAM(t, 64)
	cw := must(pagedrange.NewChainWalker(nil))
	defer cw.Close()
	readable, writable := newBuffers(t)
	putDesc(t, m, table, 0, 10*page, 16, descNext, 1)
	putDesc(t, m, table, 1, 11*page, 512, descWrite, 0)
	if err := cw.Walk(m, table, 2, 0, readable, writable); err != nil {
		t.Fatal(err)
	}

	type refusal struct {
		status   *pagedrange.Error
		rule     pagedrange.ChainRule
		index    int
		indirect bool
	}
	check := func(what string, err error, want refusal) *pagedrange.Error {
		t.Helper()
		wantStatus(t, err, want.status)
		e := err.(*pagedrange.Error)
		if e.Rule != want.rule || e.Index != want.index || e.Indirect != want.indirect || e.Op != "pr_chain_walker_walk" {
			t.Fatalf("%s: rule %v index %d indirect %v, want %v %d %v", what, e.Rule, e.Index, e.Indirect, want.rule, want.index, want.indirect)
		}
		if msg := e.Error(); !strings.Contains(msg, want.rule.String()) || !strings.Contains(msg, "descriptor") {
			t.Fatalf("%s: message %q", what, msg)
		}
		// A refused chain leaves both buffers as they were.
		if readable.Len() != 16 || writable.Len() != 512 {
			t.Fatalf("%s: buffers changed (%d, %d)", what, readable.Len(), writable.Len())
		}
		return e
	}

	check("queue size 0", cw.Walk(m, table, 0, 0, readable, writable),
		refusal{pagedrange.ErrMalformed, pagedrange.ChainQueueSize, 0, false})
	check("head out of range", cw.Walk(m, table, 2, 2, readable, writable),
		refusal{pagedrange.ErrMalformed, pagedrange.ChainHeadOutOfRange, 2, false})

	putDesc(t, m, table, 0, 10*page, 8, descNext, 1)
	putDesc(t, m, table, 1, 10*page+8, 8, descNext, 0)
	check("loop", cw.Walk(m, table, 2, 0, readable, writable),
		refusal{pagedrange.ErrMalformed, pagedrange.ChainTooLong, 0, false})

	putDesc(t, m, table, 0, 10*page, 8, descNext|descWrite, 1)
	putDesc(t, m, table, 1, 12*page, 8, 0, 0)
	check("readable after writable", cw.Walk(m, table, 2, 0, readable, writable),
		refusal{pagedrange.ErrMalformed, pagedrange.ChainReadableAfterWritable, 1, false})

	putDesc(t, m, table, 0, indTable, 2*16, descIndirect, 0)
	putDesc(t, m, indTable, 0, 10*page, 8, descNext, 1)
	putDesc(t, m, indTable, 1, 11*page, 8, descIndirect, 0)
	check("nested indirect", cw.Walk(m, table, 2, 0, readable, writable),
		refusal{pagedrange.ErrMalformed, pagedrange.ChainNestedIndirect, 1, true})

	noIndirect := must(pagedrange.NewChainWalker(&pagedrange.ChainLimits{
		Readable: pagedrange.BuilderLimits{MaxWindows: 8, MaxPages: 8, MaxBytes: 8 * page},
		Writable: pagedrange.BuilderLimits{MaxWindows: 8, MaxPages: 8, MaxBytes: 8 * page},
		MaxBytes: 16 * page,
	}))
	defer noIndirect.Close()
	check("indirect not allowed", noIndirect.Walk(m, table, 2, 0, readable, writable),
		refusal{pagedrange.ErrMalformed, pagedrange.ChainIndirectNotAllowed, 0, false})

	putDesc(t, m, table, 0, 10*page, 8, descNext, 1)
	putDesc(t, m, table, 1, 11*page, 9*page, descWrite, 0)
	check("writable limit", noIndirect.Walk(m, table, 2, 0, readable, writable),
		refusal{pagedrange.ErrLimit, pagedrange.ChainLimit, 1, false})

	// A table outside guest memory: the fault of the memory, as for a
	// transfer.
	e := check("unreadable table", cw.Walk(m, 100*page, 2, 1, readable, writable),
		refusal{pagedrange.ErrMemory, pagedrange.ChainUnreadable, 1, false})
	if e.GPA != 100*page+16 || !errors.Is(e, pagedrange.FaultUnmapped) {
		t.Fatalf("fault gpa %#x code %d", e.GPA, e.Code)
	}

	// Through Go memory that fails: the Go error comes back.
	g := newGuestMem(32)
	gm := newMem(t, g)
	errDown := errors.New("backend down")
	g.fail(1, errDown)
	e = check("Go memory fault", cw.Walk(gm, table, 2, 0, readable, writable),
		refusal{pagedrange.ErrMemory, pagedrange.ChainUnreadable, 0, false})
	if e.Err != errDown || !errors.Is(e, errDown) || e.GPA != table {
		t.Fatalf("Go cause %v gpa %#x", e.Err, e.GPA)
	}

	_, err := pagedrange.NewChainWalker(&pagedrange.ChainLimits{Writable: pagedrange.BuilderLimits{MaxPages: -1}})
	wantStatus(t, err, pagedrange.ErrInvalidArgument)
	if pagedrange.ChainRule(0).String() == pagedrange.ChainLimit.String() {
		t.Fatal("rule strings")
	}
}
