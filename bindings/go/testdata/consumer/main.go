// Command pagedrange-consumer serves one virtio-blk style read request
// with the pagedrange Go binding, as a device outside the pagedrange
// source tree would: guest RAM in a Go slice, the driver's descriptor
// chain walked into its two parts, the data written into guest pages with
// a dirty log, the status byte written last. It checks every step and
// exits 1 if one fails, or if the linked library is not the version given
// as its argument.
package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"

	"pagedrange.dev/pagedrange"
)

const (
	page      = pagedrange.PageSize
	descTable = 0x1000
	descNext  = 1
	descWrite = 2
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: pagedrange-consumer EXPECTED_VERSION")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "pagedrange-consumer:", err)
		os.Exit(1)
	}
	fmt.Println("pagedrange-consumer: ok")
}

func run(wantVersion string) error {
	if v := pagedrange.Version(); v != wantVersion {
		return fmt.Errorf("linked library version %s, want %s", v, wantVersion)
	}
	header := fmt.Sprintf("%d.%d.%d", pagedrange.VersionMajor, pagedrange.VersionMinor, pagedrange.VersionPatch)
	if header != wantVersion {
		return fmt.Errorf("header version %s, want %s", header, wantVersion)
	}

	guest := make([]byte, 32*page)
	mem, err := pagedrange.NewMappedMemory(pagedrange.MappedRegion{GPA: 0, Data: guest})
	if err != nil {
		return err
	}
	defer mem.Close()
	dirty := pagedrange.NewDirtyBitmap(32)
	logged, err := mem.WithDirtyBitmap(dirty)
	if err != nil {
		return err
	}
	defer logged.Close()

	// The driver's request: a 16-byte header (type 0 = read, sector 7),
	// 6000 bytes of data buffer over pages 5 and 9, a status byte.
	desc := func(i int, addr uint64, n uint32, flags, next uint16) {
		d := guest[descTable+16*i:]
		binary.LittleEndian.PutUint64(d, addr)
		binary.LittleEndian.PutUint32(d[8:], n)
		binary.LittleEndian.PutUint16(d[12:], flags)
		binary.LittleEndian.PutUint16(d[14:], next)
	}
	binary.LittleEndian.PutUint64(guest[0x2000+8:], 7)
	desc(0, 0x2000, 16, descNext, 1)
	desc(1, 5*page+100, page-100, descNext|descWrite, 2)
	desc(2, 9*page, 6000-(page-100), descNext|descWrite, 3)
	desc(3, 0x3000, 1, descWrite, 0)

	walker, err := pagedrange.NewChainWalker(nil)
	if err != nil {
		return err
	}
	defer walker.Close()
	readable, _ := pagedrange.NewRanges()
	defer readable.Close()
	writable, _ := pagedrange.NewRanges()
	defer writable.Close()
	if err := walker.Walk(logged, descTable, 8, 0, readable, writable); err != nil {
		return err
	}

	rd, err := readable.NewReader(logged)
	if err != nil {
		return err
	}
	defer rd.Close()
	var req struct {
		Type, _ uint32
		Sector  uint64
	}
	if err := binary.Read(rd, binary.LittleEndian, &req); err != nil {
		return err
	}
	w, err := writable.NewWriter(logged)
	if err != nil {
		return err
	}
	defer w.Close()
	data, err := w.Limit(writable.Len() - 1)
	if err != nil {
		return err
	}
	defer data.Close()
	disk := bytes.Repeat([]byte("sector 7 "), 1000)[:6000]
	if _, err := io.Copy(data, bytes.NewReader(disk)); err != nil {
		return err
	}
	if _, err := w.Write([]byte{0}); err != nil { // VIRTIO_BLK_S_OK
		return err
	}

	got := append(append([]byte(nil), guest[5*page+100:6*page]...), guest[9*page:9*page+6000-(page-100)]...)
	switch {
	case req.Type != 0 || req.Sector != 7:
		return fmt.Errorf("request header %+v", req)
	case !bytes.Equal(got, disk):
		return errors.New("the data did not land in the guest's pages")
	case guest[0x3000] != 0:
		return errors.New("status byte")
	}
	if pages := dirty.Collect(); !reflect.DeepEqual(pages, []uint64{3, 5, 9}) {
		return fmt.Errorf("dirty pages %v, want [3 5 9]", pages)
	}

	// A data buffer outside guest RAM: the walk takes it (it reads only the
	// descriptors), the transfer fails at its address, before any byte.
	desc(1, 64*page, 512, descNext|descWrite, 2)
	if err := walker.Walk(logged, descTable, 8, 0, readable, writable); err != nil {
		return fmt.Errorf("walk: %v", err)
	}
	_, err = writable.Write(mem, make([]byte, writable.Len()))
	var perr *pagedrange.Error
	if !errors.As(err, &perr) || !errors.Is(err, pagedrange.FaultUnmapped) || perr.GPA != 64*page {
		return fmt.Errorf("write outside guest RAM: %v", err)
	}
	fmt.Printf("pagedrange %s: read request for sector %d served, %d bytes, dirty pages 3 5 9\n",
		pagedrange.Version(), req.Sector, len(disk))
	return nil
}
