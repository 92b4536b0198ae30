package pagedrange

/*
#include <pagedrange.h>
*/
import "C"

import "unsafe"

// The GPA-range wire format of VMBus packets: per range a header word
// `len | offset<<32` followed by the ceil((offset+len)/4096) GPNs the range
// touches; ranges back to back.

// ParseGPARanges parses rangeCount GPA ranges from words into a new buffer
// (pr_ranges_parse_gpa_ranges) and returns it with the number of words the
// ranges took (words after them are ignored). Everything is validated and
// the words are copied; empty ranges add no window.
//
// A malformed list (truncated, an offset of 4096 or more, a nonzero offset
// with a zero length) gives StatusMalformed, an unaddressable page
// StatusInvalidGPN; the *Error's Index is then the word where the problem
// was found.
func ParseGPARanges(words []uint64, rangeCount int) (rs *Ranges, used int, err error) {
	const op = "pr_ranges_parse_gpa_ranges"
	count, err := sizeArg(op, rangeCount)
	if err != nil {
		return nil, 0, err
	}
	var p *C.uint64_t
	if len(words) > 0 {
		p = (*C.uint64_t)(unsafe.Pointer(&words[0]))
	}
	var out *C.pr_ranges
	var nUsed, errWord C.size_t
	s := C.pr_ranges_parse_gpa_ranges(p, C.size_t(len(words)), count, &out, &nUsed, &errWord)
	switch s {
	case C.PR_OK:
		return newRanges(out), int(nUsed), nil
	case C.PR_ERR_MALFORMED, C.PR_ERR_INVALID_GPN:
		return nil, 0, &Error{Op: op, Status: Status(s), Index: int(errWord), indexOf: "word"}
	default:
		return nil, 0, statusErr(op, s)
	}
}

// AppendGPARanges appends the buffer's windows (after Skip and Truncate)
// in the GPA-range format to dst and returns the extended slice
// (pr_ranges_write_gpa_ranges). A window longer than the 32-bit length
// field gives StatusOutOfRange, and dst is returned unchanged.
func (rs *Ranges) AppendGPARanges(dst []uint64) ([]uint64, error) {
	const op = "pr_ranges_write_gpa_ranges"
	p, err := rs.rlock()
	if err != nil {
		return dst, err
	}
	defer rs.mu.RUnlock()
	var needed C.size_t
	if s := C.pr_ranges_write_gpa_ranges(p, nil, 0, &needed); s != C.PR_OK && s != C.PR_ERR_BUFFER_TOO_SMALL {
		return dst, statusErr(op, s)
	}
	if needed == 0 {
		return dst, nil
	}
	start := len(dst)
	dst = append(dst, make([]uint64, int(needed))...)
	s := C.pr_ranges_write_gpa_ranges(p, (*C.uint64_t)(unsafe.Pointer(&dst[start])), needed, &needed)
	if s != C.PR_OK {
		// The read lock keeps the windows as they were: this is only reached
		// if the C library misbehaves.
		return dst[:start], statusErr(op, s)
	}
	return dst[:start+int(needed)], nil
}
