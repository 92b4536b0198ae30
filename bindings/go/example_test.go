package pagedrange_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"pagedrange.dev/pagedrange"
)

// ram is guest memory held in a Go slice, served through callbacks.
type ram []byte

func (m ram) ReadAt(gpa uint64, p []byte) error  { copy(p, m[gpa:]); return nil }
func (m ram) WriteAt(gpa uint64, p []byte) error { copy(m[gpa:], p); return nil }

func Example() {
	mem, _ := pagedrange.NewMemory(make(ram, 16*pagedrange.PageSize))
	defer mem.Close()
	// 12 bytes: the last 6 of guest page 3, then the first 6 of page 7.
	r, _ := pagedrange.NewRange([]uint64{3, 7}, 4090, 12)
	defer r.Close()

	w, _ := r.NewWriter(mem)
	io.WriteString(w, "hello, guest")
	w.Close()

	rd, _ := r.NewReader(mem)
	defer rd.Close()
	b, _ := io.ReadAll(rd)
	runs, _ := r.AddressRanges()
	fmt.Printf("%q %#x\n", b, runs)
	// Output: "hello, guest" [{0x3ffa 0x4000} {0x7000 0x7006}]
}

// Guest RAM held in a Go slice: transfers copy straight to and from it.
func ExampleNewMappedMemory() {
	guest := make([]byte, 4*pagedrange.PageSize) // guest pages 8 .. 11
	mem, _ := pagedrange.NewMappedMemory(pagedrange.MappedRegion{GPA: 8 * pagedrange.PageSize, Data: guest})
	defer mem.Close()
	r, _ := pagedrange.NewRange([]uint64{11, 9}, 4094, 4)
	defer r.Close()
	r.Write(mem, []byte("abcd"))
	fmt.Printf("%q %q\n", guest[3*4096+4094:], guest[4096:4098])

	r12, _ := pagedrange.NewRange([]uint64{12}, 0, 1) // page 12 is not guest RAM
	defer r12.Close()
	_, err := r12.Read(mem, make([]byte, 1))
	var e *pagedrange.Error
	if errors.As(err, &e) && errors.Is(err, pagedrange.FaultUnmapped) {
		fmt.Printf("page 12: %v at %#x\n", e.Status, e.GPA)
	}
	// Output:
	// "ab" "cd"
	// page 12: guest memory access failed at 0xc000
}

// A descriptor chain's segments become the fewest windows.
func ExampleBuilder() {
	b, _ := pagedrange.NewBuilder(&pagedrange.BuilderLimits{MaxWindows: 2, MaxPages: 16, MaxBytes: 1 << 20})
	defer b.Close()
	b.Push(0x5000+100, 400)   // window 0
	b.Push(0x5000+500, 3596)  // meets it exactly: joins, ends on a page boundary
	b.Push(0x9000, 4096)      // starts on a page boundary: joins too
	b.Push(0x20010, 16)       // window 1
	err := b.Push(0x30000, 8) // a third window is over the limit
	fmt.Println(err)

	rs, _ := b.Finish()
	defer rs.Close()
	runs, _ := rs.AddressRanges()
	fmt.Printf("%d windows, %d bytes, runs %#x\n", rs.Count(), rs.Len(), runs)
	// Output:
	// pagedrange: pr_ranges_builder_push: a configured limit was exceeded (segment 4)
	// 2 windows, 8108 bytes, runs [{0x5064 0x6000} {0x9000 0xa000} {0x20010 0x20020}]
}

// Walking a virtqueue descriptor chain into the request's two parts.
func ExampleChainWalker() {
	guest := make([]byte, 16*pagedrange.PageSize)
	mem, _ := pagedrange.NewMappedMemory(pagedrange.MappedRegion{GPA: 0, Data: guest})
	defer mem.Close()
	// The driver's descriptor table at 0x1000: 0 -> 1 -> 2.
	desc := func(i int, addr uint64, n uint32, flags, next uint16) {
		d := guest[0x1000+16*i:]
		binary.LittleEndian.PutUint64(d, addr)
		binary.LittleEndian.PutUint32(d[8:], n)
		binary.LittleEndian.PutUint16(d[12:], flags)
		binary.LittleEndian.PutUint16(d[14:], next)
	}
	const next, write = 1, 2
	desc(0, 0x2000, 16, next, 1)        // request header: device-readable
	desc(1, 0x3000, 512, next|write, 2) // data buffer: device-writable
	desc(2, 0x4000, 1, write, 0)        // status byte

	walker, _ := pagedrange.NewChainWalker(nil)
	defer walker.Close()
	readable, _ := pagedrange.NewRanges()
	defer readable.Close()
	writable, _ := pagedrange.NewRanges()
	defer writable.Close()
	if err := walker.Walk(mem, 0x1000, 8, 0, readable, writable); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("readable", readable.Len(), "writable", writable.Len())

	desc(2, 0x4000, 1, write|next, 0) // now 2 -> 0: a loop
	err := walker.Walk(mem, 0x1000, 8, 0, readable, writable)
	var e *pagedrange.Error
	if errors.As(err, &e) {
		fmt.Println(errors.Is(err, pagedrange.ErrMalformed), e.Rule == pagedrange.ChainReadableAfterWritable, e.Index)
	}
	// Output:
	// readable 16 writable 513
	// true true 0
}

// The packed GPA-range format of VMBus packets, both ways.
func ExampleParseGPARanges() {
	words := []uint64{
		100 | 4000<<32, 5, 6, // 100 bytes from offset 4000 of page 5, into page 6
		4096 | 0<<32, 9, // all of page 9
	}
	rs, used, err := pagedrange.ParseGPARanges(words, 2)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rs.Close()
	rs.Skip(60) // the first window now starts at offset 4060
	out, _ := rs.AppendGPARanges(nil)
	fmt.Println(used, rs.Count(), rs.Len())
	fmt.Printf("%#x\n", out)

	_, _, err = pagedrange.ParseGPARanges([]uint64{8 | 4096<<32, 1}, 1)
	fmt.Println(err)
	// Output:
	// 5 2 4136
	// [0xfdc00000028 0x5 0x6 0x1000 0x9]
	// pagedrange: pr_ranges_parse_gpa_ranges: malformed encoded input (word 0)
}

// Logging the pages a device writes, for live migration.
func ExampleMemory_WithDirtyBitmap() {
	guest := make([]byte, 8*pagedrange.PageSize)
	mem, _ := pagedrange.NewMappedMemory(pagedrange.MappedRegion{GPA: 0, Data: guest})
	defer mem.Close()
	dirty := pagedrange.NewDirtyBitmap(8)
	logged, _ := mem.WithDirtyBitmap(dirty)
	defer logged.Close()

	r, _ := pagedrange.NewRange([]uint64{2, 5, 6}, 4000, 200)
	defer r.Close()
	r.Fill(logged, 0xFF, 200)         // marks pages 2 and 5
	logged.WriteAt([]byte{1}, 0x7001) // marks page 7
	r.Read(logged, make([]byte, 200)) // reads mark nothing
	fmt.Println(dirty.Collect(), dirty.Collect())
	// Output: [2 5 7] []
}

// Splitting a request: the header, the data handed on, the status.
func ExampleReader_Limit() {
	mem, _ := pagedrange.NewMemory(make(ram, 4*pagedrange.PageSize))
	defer mem.Close()
	r, _ := pagedrange.NewRange([]uint64{1, 3}, 4000, 200)
	defer r.Close()
	r.Write(mem, []byte("HDR:"+string(make([]byte, 195))+"!"))

	rd, _ := r.NewReader(mem)
	defer rd.Close()
	hdr, _ := rd.Limit(4)
	defer hdr.Close()
	data, _ := rd.Limit(195)
	defer data.Close()
	h, _ := io.ReadAll(hdr)
	d, _ := io.ReadAll(data)
	status, _ := io.ReadAll(rd)
	fmt.Printf("%q %d %q\n", h, len(d), status)
	// Output: "HDR:" 195 "!"
}

// Handing guest pages to readv/writev without a copy.
func ExampleWriter_IOVecs() {
	guest := make([]byte, 4*pagedrange.PageSize)
	mem, _ := pagedrange.NewMappedMemory(pagedrange.MappedRegion{GPA: 0, Data: guest})
	defer mem.Close()
	r, _ := pagedrange.NewRange([]uint64{3, 1, 2}, 4090, 20)
	defer r.Close()
	w, _ := r.NewWriter(mem)
	defer w.Close()
	bufs, covered, _ := w.IOVecs(20) // as for syscall readv: slices of guest
	for _, b := range bufs {
		fmt.Print(len(b), " ")
		copy(b, "xxxxxxxxxxxxxx")
	}
	fmt.Println(covered, w.Remaining(), string(guest[3*4096+4090:]), string(guest[4096:4110]))
	// Output: 6 14 20 0 xxxxxx xxxxxxxxxxxxxx
}

// Memory is an io.ReaderAt and io.WriterAt over guest physical addresses.
func ExampleMemory_ReadAt() {
	guest := make([]byte, 2*pagedrange.PageSize)
	mem, _ := pagedrange.NewMappedMemory(pagedrange.MappedRegion{GPA: 0, Data: guest})
	defer mem.Close()
	var idx [2]byte
	binary.LittleEndian.PutUint16(idx[:], 42)
	mem.WriteAt(idx[:], 0x1002) // a ring's avail index, say: one store
	n, err := mem.ReadAt(idx[:], 0x1002)
	fmt.Println(n, err, binary.LittleEndian.Uint16(idx[:]), guest[0x1002])
	// All or nothing: 16 bytes of these 32 are outside guest memory.
	n, err = io.NewSectionReader(mem, 0x1ff0, 0x20).Read(make([]byte, 0x20))
	fmt.Println(n, errors.Is(err, pagedrange.ErrMemory))
	// Output:
	// 2 <nil> 42 42
	// 0 true
}
