package pagedrange_test

import (
	"bytes"
	"io"
	"testing"

	"pagedrange.dev/pagedrange"
)

func TestReader(t *testing.T) {
	g := newGuestMem(32)
	m := newMem(t, g)
	r := newRange(t, testGPNs, 100, testLen)
	full := expected(testGPNs, 100, testLen)

	rd := must(r.NewReader(m))
	defer rd.Close()
	if rd.Remaining() != testLen {
		t.Fatal("remaining")
	}
	head := make([]byte, 5000)
	if n, err := io.ReadFull(rd, head); err != nil || n != 5000 || !bytes.Equal(head, full[:5000]) {
		t.Fatalf("ReadFull %d %v", n, err)
	}
	if err := rd.Skip(1000); err != nil || rd.Remaining() != testLen-6000 {
		t.Fatalf("skip: %v", err)
	}
	wantStatus(t, rd.Skip(testLen), pagedrange.ErrOutOfRange)
	if rd.Remaining() != testLen-6000 {
		t.Fatal("failed skip moved the reader")
	}
	var out bytes.Buffer
	if n, err := io.Copy(&out, rd); err != nil || n != testLen-6000 || !bytes.Equal(out.Bytes(), full[6000:]) {
		t.Fatalf("io.Copy %d %v", n, err)
	}
	if n, err := rd.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("at end: %d %v", n, err)
	}
	if n, err := rd.Read(nil); n != 0 || err != nil {
		t.Fatalf("empty read at end: %d %v", n, err)
	}
	_, err := io.ReadFull(rd, make([]byte, 1))
	if err != io.EOF {
		t.Fatalf("ReadFull at end: %v", err)
	}
}

func TestWriter(t *testing.T) {
	g := newGuestMem(32)
	m := newMem(t, g)
	r := newRange(t, testGPNs, 100, testLen)
	src := make([]byte, testLen)
	for i := range src {
		src[i] = byte(i ^ 0x5A)
	}

	w := must(r.NewWriter(m))
	defer w.Close()
	if n, err := io.Copy(w, bytes.NewReader(src[:7000])); err != nil || n != 7000 || w.Remaining() != testLen-7000 {
		t.Fatalf("io.Copy %d %v", n, err)
	}
	if n, err := w.Fill(0xCC, 100); err != nil || n != 100 {
		t.Fatalf("fill %d %v", n, err)
	}
	_, err := w.Fill(0, testLen)
	wantStatus(t, err, pagedrange.ErrOutOfRange)
	// Longer than what is left: the part that fits is written.
	n, err := w.Write(src[7100:])
	if n != testLen-7100 || err != nil {
		t.Fatalf("exact write %d %v", n, err)
	}
	n, err = w.Write([]byte{1, 2})
	wantStatus(t, err, pagedrange.ErrOutOfRange)
	if n != 0 || w.Remaining() != 0 {
		t.Fatalf("write past end: n=%d", n)
	}
	want := append(append(append([]byte(nil), src[:7000]...), bytes.Repeat([]byte{0xCC}, 100)...), src[7100:]...)
	if !bytes.Equal(readAll(t, r, m), want) {
		t.Fatal("content")
	}

	// io.Copy of a longer source stops with the out-of-range error after
	// filling the window.
	w2 := must(r.NewWriter(m))
	defer w2.Close()
	long := bytes.Repeat([]byte{7}, testLen+500)
	n64, err := io.Copy(w2, bytes.NewReader(long))
	wantStatus(t, err, pagedrange.ErrOutOfRange)
	if n64 != testLen || w2.Remaining() != 0 {
		t.Fatalf("copied %d", n64)
	}
	if !bytes.Equal(readAll(t, r, m), long[:testLen]) {
		t.Fatal("content after long copy")
	}
}

func TestCursorsOutliveHandles(t *testing.T) {
	g := newGuestMem(32)
	m := must(pagedrange.NewMemory(g))
	r := must(pagedrange.NewRange(testGPNs, 100, testLen))
	rd := must(r.NewReader(m))
	defer rd.Close()
	w := must(r.NewWriter(m))
	defer w.Close()
	r.Close()
	m.Close()
	if n, err := w.Write(bytes.Repeat([]byte{9}, testLen)); err != nil || n != testLen {
		t.Fatalf("write after closing range and memory: %d %v", n, err)
	}
	got := must(io.ReadAll(rd))
	if !bytes.Equal(got, bytes.Repeat([]byte{9}, testLen)) {
		t.Fatal("reader content")
	}
}
