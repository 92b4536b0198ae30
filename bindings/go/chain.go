package pagedrange

/*
#include <pagedrange.h>
*/
import "C"

import (
	"runtime"
	"unsafe"
)

// ChainRule is a rule of the virtio split-queue descriptor format that a
// walked chain broke (a PR_CHAIN_* code); see [Error].Rule.
type ChainRule uint32

// The rules (PR_CHAIN_*).
const (
	ChainQueueSize             ChainRule = C.PR_CHAIN_QUEUE_SIZE              // the queue size is 0 or above 32768
	ChainHeadOutOfRange        ChainRule = C.PR_CHAIN_HEAD_OUT_OF_RANGE       // the head index is not below the queue size
	ChainNextOutOfRange        ChainRule = C.PR_CHAIN_NEXT_OUT_OF_RANGE       // a next index is not below the size of its table
	ChainTooLong               ChainRule = C.PR_CHAIN_TOO_LONG                // the chain is longer than its table (it loops)
	ChainIndirectNotAllowed    ChainRule = C.PR_CHAIN_INDIRECT_NOT_ALLOWED    // an indirect descriptor while they are not accepted
	ChainNestedIndirect        ChainRule = C.PR_CHAIN_NESTED_INDIRECT         // an indirect descriptor inside an indirect table
	ChainIndirectWithNext      ChainRule = C.PR_CHAIN_INDIRECT_WITH_NEXT      // a descriptor with both INDIRECT and NEXT
	ChainIndirectLength        ChainRule = C.PR_CHAIN_INDIRECT_LENGTH         // an indirect table of length 0 or not a multiple of 16
	ChainReadableAfterWritable ChainRule = C.PR_CHAIN_READABLE_AFTER_WRITABLE // a device-readable descriptor after a writable one
	ChainUnreadable            ChainRule = C.PR_CHAIN_UNREADABLE              // a descriptor (or its table) is not in guest memory
	ChainOverflow              ChainRule = C.PR_CHAIN_OVERFLOW                // a buffer's address plus length overflows 64 bits
	ChainLimit                 ChainRule = C.PR_CHAIN_LIMIT                   // the chain exceeds a limit
	ChainAllocation            ChainRule = C.PR_CHAIN_ALLOCATION              // memory for the buffers could not be allocated
)

// String describes the rule (pr_chain_rule_str).
func (r ChainRule) String() string { return C.GoString(C.pr_chain_rule_str(C.uint32_t(r))) }

// ChainLimits are the limits a [ChainWalker] enforces (pr_chain_limits).
type ChainLimits struct {
	Readable BuilderLimits // limits of the device-readable part
	Writable BuilderLimits // limits of the device-writable part
	MaxBytes uint64        // most bytes of the whole chain, both parts together
	Indirect bool          // indirect tables accepted (VIRTIO_F_INDIRECT_DESC)
}

// ChainWalker walks the descriptor chains of a split virtqueue
// (pr_chain_walker), every descriptor read through a Memory, into a
// device-readable and a device-writable buffer. Reused from chain to
// chain, it allocates nothing once it has walked a queue's largest chain.
// Calls are serialized by a mutex.
type ChainWalker struct {
	exclusive[*C.pr_chain_walker]
}

// NewChainWalker creates a walker. A nil limits means the spec's bounds
// (at most 2^32 - 1 bytes per chain, the builder's virtio defaults for each
// part, indirect tables accepted).
func NewChainWalker(limits *ChainLimits) (*ChainWalker, error) {
	const op = "pr_chain_walker_new"
	var cl *C.pr_chain_limits
	if limits != nil {
		r, err := limits.Readable.cLimits(op)
		if err != nil {
			return nil, err
		}
		w, err := limits.Writable.cLimits(op)
		if err != nil {
			return nil, err
		}
		cl = &C.pr_chain_limits{readable: r, writable: w, max_bytes: C.uint64_t(limits.MaxBytes)}
		if limits.Indirect {
			cl.indirect = 1
		}
	}
	var out *C.pr_chain_walker
	if err := statusErr(op, C.pr_chain_walker_new(cl, &out)); err != nil {
		return nil, err
	}
	w := &ChainWalker{exclusive[*C.pr_chain_walker]{ptr: out}}
	runtime.SetFinalizer(w, (*ChainWalker).Close)
	return w, nil
}

func (w *ChainWalker) lock() (*C.pr_chain_walker, error) {
	if w == nil {
		return nil, ErrClosed
	}
	return w.exclusive.lock()
}

// Walk walks the chain starting at descriptor head of the descriptor
// table at guest address tableGPA (queueSize entries of 16 bytes),
// following NEXT and INDIRECT as VIRTIO 1.2 describes them, and makes
// readable hold the chain's device-readable bytes and writable its
// device-writable bytes, each as the fewest windows (their memory is
// reused, as by [Builder.FinishInto]).
//
// A refused chain leaves both buffers as they were and gives an *Error
// whose Rule names the rule broken and whose Index and Indirect locate the
// descriptor: StatusMalformed for a rule of the spec, StatusLimit for a
// limit, StatusMemory (with GPA and Code, as for a transfer) for a
// descriptor outside guest memory. readable and writable must be two
// different buffers (StatusInvalidArgument).
func (w *ChainWalker) Walk(mem *Memory, tableGPA uint64, queueSize, head uint16, readable, writable *Ranges) error {
	const op = "pr_chain_walker_walk"
	if readable == writable && readable != nil {
		return &Error{Op: op, Status: StatusInvalidArgument}
	}
	wp, err := w.lock()
	if err != nil {
		return err
	}
	defer w.mu.Unlock()
	core, err := mem.rlock()
	if err != nil {
		return err
	}
	defer mem.mu.RUnlock()
	// Lock the two buffers in one order (by address; Go does not move heap
	// objects), so that two walks with the buffers swapped cannot deadlock.
	first, second := readable, writable
	if uintptr(unsafe.Pointer(first)) > uintptr(unsafe.Pointer(second)) {
		first, second = second, first
	}
	if _, err := first.wlock(); err != nil {
		return err
	}
	defer first.mu.Unlock()
	if _, err := second.wlock(); err != nil {
		return err
	}
	defer second.mu.Unlock()

	var ce C.pr_chain_error
	s := C.pr_chain_walker_walk(wp, core.ptr, C.uint64_t(tableGPA), C.uint16_t(queueSize), C.uint16_t(head),
		readable.ptr, writable.ptr, &ce)
	if s == C.PR_OK {
		return nil
	}
	e := &Error{Op: op, Status: Status(s), Rule: ChainRule(ce.rule)}
	if ce.rule != 0 {
		e.Index, e.Indirect, e.indexOf = int(ce.index), ce.indirect != 0, "descriptor"
	}
	if s == C.PR_ERR_MEMORY {
		core.fault(e, uint64(ce.fault_gpa), int(ce.fault_code))
	}
	return e
}

// Close frees the walker; the buffers it filled stay valid. Closing twice
// is harmless.
func (w *ChainWalker) Close() error {
	if w != nil && w.close(func(p *C.pr_chain_walker) { C.pr_chain_walker_free(p) }) {
		runtime.SetFinalizer(w, nil)
	}
	return nil
}
