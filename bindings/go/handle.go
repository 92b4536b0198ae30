package pagedrange

import "sync"

// The two ways the binding guards a C handle. Each Go handle type embeds
// one and adds a nil check (a nil handle behaves as a closed one). P is the
// C pointer type (cgo's opaque structs cannot be type arguments).

// shared is a C handle the C contract lets several threads use at once for
// calls taking it as const (pr_range, pr_ranges): those hold mu for
// reading; calls that change it and Close hold it for writing.
type shared[P comparable] struct {
	mu  sync.RWMutex
	ptr P // the zero value (nil) once closed
}

// rlock read-locks h and returns its C handle; the caller must
// mu.RUnlock. ErrClosed (and nothing locked) once closed.
func (h *shared[P]) rlock() (P, error) {
	h.mu.RLock()
	if h.ptr == *new(P) {
		h.mu.RUnlock()
		return *new(P), ErrClosed
	}
	return h.ptr, nil
}

// wlock locks h exclusively and returns its C handle; the caller must
// mu.Unlock. ErrClosed (and nothing locked) once closed.
func (h *shared[P]) wlock() (P, error) {
	return lockOpen(&h.mu, &h.ptr)
}

// close frees the C handle with free, once; it reports whether it did.
func (h *shared[P]) close(free func(P)) bool {
	return closeOnce(&h.mu, &h.ptr, free)
}

// exclusive is a C handle one thread uses at a time (a cursor, a builder,
// a chain walker): every call holds mu.
type exclusive[P comparable] struct {
	mu  sync.Mutex
	ptr P // the zero value (nil) once closed
}

// lock locks h and returns its C handle; the caller must mu.Unlock.
// ErrClosed (and nothing locked) once closed.
func (h *exclusive[P]) lock() (P, error) {
	return lockOpen(&h.mu, &h.ptr)
}

// close frees the C handle with free, once; it reports whether it did.
func (h *exclusive[P]) close(free func(P)) bool {
	return closeOnce(&h.mu, &h.ptr, free)
}

// lockOpen locks mu and returns *ptr, or unlocks it and returns ErrClosed
// when *ptr is the zero value (closed).
func lockOpen[P comparable](mu sync.Locker, ptr *P) (P, error) {
	mu.Lock()
	if *ptr == *new(P) {
		mu.Unlock()
		return *new(P), ErrClosed
	}
	return *ptr, nil
}

// closeOnce frees *ptr with free and zeroes it, under mu; it reports
// whether there was anything to free.
func closeOnce[P comparable](mu sync.Locker, ptr *P, free func(P)) bool {
	mu.Lock()
	defer mu.Unlock()
	if *ptr == *new(P) {
		return false
	}
	free(*ptr)
	*ptr = *new(P)
	return true
}
