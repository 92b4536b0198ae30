package pagedrange

/*
#include <pagedrange.h>
*/
import "C"

import "runtime"

// BuilderLimits are the limits a [Builder] enforces, so that a hostile
// descriptor chain is refused in one place (pr_builder_limits). A limit of
// 0 allows nothing.
type BuilderLimits struct {
	MaxWindows int    // most windows the result may hold
	MaxPages   int    // most guest pages the result may list
	MaxBytes   uint64 // most bytes the result may describe
}

// cLimits converts l for C; negative limits are StatusInvalidArgument.
func (l BuilderLimits) cLimits(op string) (C.pr_builder_limits, error) {
	w, err := sizeArg(op, l.MaxWindows)
	if err != nil {
		return C.pr_builder_limits{}, err
	}
	p, err := sizeArg(op, l.MaxPages)
	if err != nil {
		return C.pr_builder_limits{}, err
	}
	return C.pr_builder_limits{max_windows: w, max_pages: p, max_bytes: C.uint64_t(l.MaxBytes)}, nil
}

// Builder collects guest byte segments (a virtio descriptor chain, an
// NVMe PRP or SGL list) into the fewest windows (pr_ranges_builder). A
// segment joins the last window when they meet exactly in guest memory, or
// when the window ends on a page boundary and the segment starts on one.
// Calls are serialized by a mutex. Reuse one Builder from request to
// request with Clear and FinishInto: it then allocates nothing.
type Builder struct {
	exclusive[*C.pr_ranges_builder]
}

// NewBuilder creates a builder. A nil limits means the virtio defaults (at
// most 1024 windows, 2^32 - 1 bytes, and the pages those can span).
func NewBuilder(limits *BuilderLimits) (*Builder, error) {
	const op = "pr_ranges_builder_new"
	var cl *C.pr_builder_limits
	if limits != nil {
		l, err := limits.cLimits(op)
		if err != nil {
			return nil, err
		}
		cl = &l
	}
	var out *C.pr_ranges_builder
	if err := statusErr(op, C.pr_ranges_builder_new(cl, &out)); err != nil {
		return nil, err
	}
	b := &Builder{exclusive[*C.pr_ranges_builder]{ptr: out}}
	runtime.SetFinalizer(b, (*Builder).Close)
	return b, nil
}

func (b *Builder) lock() (*C.pr_ranges_builder, error) {
	if b == nil {
		return nil, ErrClosed
	}
	return b.exclusive.lock()
}

// Push adds the n bytes at guest address gpa after the bytes added so far
// (a zero-length segment is ignored but counted). On error nothing is
// added and the *Error's Index is this segment's index among all segments
// pushed since the last Clear: StatusLimit when a limit would be exceeded,
// StatusOutOfRange when gpa+n overflows 64 bits.
func (b *Builder) Push(gpa, n uint64) error {
	const op = "pr_ranges_builder_push"
	p, err := b.lock()
	if err != nil {
		return err
	}
	defer b.mu.Unlock()
	var index C.size_t
	if s := C.pr_ranges_builder_push(p, C.uint64_t(gpa), C.uint64_t(n), &index); s != C.PR_OK {
		return &Error{Op: op, Status: Status(s), Index: int(index), indexOf: "segment"}
	}
	return nil
}

// Finish returns a new buffer holding the windows built so far. The
// builder is left as it is: it may go on, or be cleared.
func (b *Builder) Finish() (*Ranges, error) {
	p, err := b.lock()
	if err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	var out *C.pr_ranges
	if err := statusErr("pr_ranges_builder_finish", C.pr_ranges_builder_finish(p, &out)); err != nil {
		return nil, err
	}
	return newRanges(out), nil
}

// FinishInto makes rs hold the windows built so far, replacing what it
// held (and any Skip or Truncate). rs's memory is reused when no other
// handle shares its windows (release or reset the cursors over it first:
// [Reader.Release], [Writer.Release]); otherwise the others keep the old
// windows.
func (b *Builder) FinishInto(rs *Ranges) error {
	p, err := b.lock()
	if err != nil {
		return err
	}
	defer b.mu.Unlock()
	rp, err := rs.wlock()
	if err != nil {
		return err
	}
	defer rs.mu.Unlock()
	return statusErr("pr_ranges_builder_finish_into", C.pr_ranges_builder_finish_into(p, rp))
}

// Clear removes every segment, keeping the limits, so the builder can be
// reused for the next request without allocating again. It also restarts
// the segment count of Push errors.
func (b *Builder) Clear() error {
	p, err := b.lock()
	if err != nil {
		return err
	}
	defer b.mu.Unlock()
	return statusErr("pr_ranges_builder_clear", C.pr_ranges_builder_clear(p))
}

// Close frees the builder; buffers it made stay valid. Closing twice is
// harmless.
func (b *Builder) Close() error {
	if b != nil && b.close(func(p *C.pr_ranges_builder) { C.pr_ranges_builder_free(p) }) {
		runtime.SetFinalizer(b, nil)
	}
	return nil
}
