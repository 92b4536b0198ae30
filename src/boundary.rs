//! The panic boundary and the pointer helpers every exported function uses.
//!
//! Handle ownership goes through `Castable`: each C marker type names the
//! Rust type behind it, and only the helpers below cast between the two.
//! `pr_memory` is reference counted (`Arc`), because cursors keep it alive;
//! every other handle has a single owner (`Box`).

use core::ffi::c_void;
use core::ptr::NonNull;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use crate::status::{
    pr_status, Failure, PR_ERR_INVALID_ARGUMENT, PR_ERR_NULL_ARGUMENT, PR_ERR_PANIC, PR_OK,
};

/// Result type of exported bodies.
pub(crate) type FfiResult<T = ()> = Result<T, Failure>;

/// The NULL-argument failure.
pub(crate) const NULL: Failure = Failure(PR_ERR_NULL_ARGUMENT);

/// Runs an exported function's body: a panic becomes [`PR_ERR_PANIC`].
#[inline(always)]
pub(crate) fn guard(body: impl FnOnce() -> FfiResult) -> pr_status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => PR_OK,
        Ok(Err(Failure(status))) => status,
        Err(_) => PR_ERR_PANIC,
    }
}

/// Runs an infallible exported function's body: a panic becomes `neutral`.
pub(crate) fn guard_value<T>(neutral: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(neutral)
}

/// Ties a C-visible marker type to the Rust value behind its pointers.
pub(crate) trait Castable {
    /// What a pointer to the marker really points to.
    type Rust;
}

/// A handle with one owner, allocated as a `Box`.
pub(crate) trait BoxCastable: Castable {}

/// A handle shared by reference count, allocated as an `Arc`.
pub(crate) trait ArcCastable: Castable {}

/// Moves `value` to the heap and returns it as a `*mut C` for C to own.
pub(crate) fn to_boxed_ptr<C: BoxCastable>(value: C::Rust) -> *mut C {
    Box::into_raw(Box::new(value)).cast()
}

/// Moves `value` into a new `Arc` and returns it as a `*const C` holding
/// one reference.
pub(crate) fn to_arc_ptr<C: ArcCastable>(value: C::Rust) -> *const C {
    Arc::into_raw(Arc::new(value)).cast()
}

/// Borrows the value behind a handle, refusing NULL.
///
/// # Safety
/// A non-NULL `ptr` must come from [`to_boxed_ptr`] or [`to_arc_ptr`] for
/// the same `C`, not yet freed, and not mutated during the borrow (C must
/// not call a mutating function on it concurrently).
pub(crate) unsafe fn try_ref<'a, C: Castable>(ptr: *const C) -> FfiResult<&'a C::Rust> {
    // SAFETY: per the contract, a non-NULL pointer refers to a live C::Rust.
    unsafe { ptr.cast::<C::Rust>().as_ref() }.ok_or(NULL)
}

/// Borrows the value behind a Box handle mutably, refusing NULL.
///
/// # Safety
/// A non-NULL `ptr` must come from [`to_boxed_ptr`] for the same `C`, not
/// yet freed, and not used by anything else during the borrow.
pub(crate) unsafe fn try_mut<'a, C: BoxCastable>(ptr: *mut C) -> FfiResult<&'a mut C::Rust> {
    // SAFETY: per the contract, a non-NULL pointer refers to a live C::Rust
    // that nothing else uses meanwhile.
    unsafe { ptr.cast::<C::Rust>().as_mut() }.ok_or(NULL)
}

/// Takes a new reference to the value behind an Arc handle, refusing NULL.
///
/// # Safety
/// A non-NULL `ptr` must come from [`to_arc_ptr`] for the same `C` and
/// still hold a reference.
pub(crate) unsafe fn try_arc<C: ArcCastable>(ptr: *const C) -> FfiResult<Arc<C::Rust>> {
    if ptr.is_null() {
        return Err(NULL);
    }
    let ptr = ptr.cast::<C::Rust>();
    // SAFETY: `ptr` came from Arc::into_raw and its reference is alive; we
    // add one reference and then take it.
    unsafe {
        Arc::increment_strong_count(ptr);
        Ok(Arc::from_raw(ptr))
    }
}

/// Frees a Box handle; NULL is a no-op.
///
/// # Safety
/// A non-NULL `ptr` must come from [`to_boxed_ptr`] for the same `C` and
/// not have been freed.
pub(crate) unsafe fn free_boxed<C: BoxCastable>(ptr: *mut C) {
    if !ptr.is_null() {
        // SAFETY: per the contract, `ptr` is the unique owner of a Box.
        drop(unsafe { Box::from_raw(ptr.cast::<C::Rust>()) });
    }
}

/// Drops one reference of an Arc handle; NULL is a no-op.
///
/// # Safety
/// A non-NULL `ptr` must come from [`to_arc_ptr`] for the same `C`, and the
/// caller gives up the reference it held.
pub(crate) unsafe fn free_arc<C: ArcCastable>(ptr: *const C) {
    if !ptr.is_null() {
        // SAFETY: per the contract, `ptr` holds one reference we may drop.
        drop(unsafe { Arc::from_raw(ptr.cast::<C::Rust>()) });
    }
}

/// Checks an out-parameter pointer: NULL is refused.
pub(crate) fn out_ptr<T>(ptr: *mut T) -> FfiResult<NonNull<T>> {
    NonNull::new(ptr).ok_or(NULL)
}

/// Stores `value` through an out-parameter checked by [`out_ptr`].
///
/// # Safety
/// `out` must be valid for a write of `T` (the caller's C contract) and
/// suitably aligned.
pub(crate) unsafe fn write_out<T>(out: NonNull<T>, value: T) {
    // SAFETY: per the contract, `out` is writable and aligned; `write` does
    // not read or drop what was there (C memory, possibly uninitialized).
    unsafe { out.as_ptr().write(value) }
}

/// Stores `value` through an optional out-parameter (NULL: nothing stored).
///
/// # Safety
/// A non-NULL `ptr` must be valid for a write of `T` and aligned.
pub(crate) unsafe fn write_opt<T>(ptr: *mut T, value: T) {
    if let Some(out) = NonNull::new(ptr) {
        // SAFETY: forwarded contract.
        unsafe { write_out(out, value) }
    }
}

/// The largest byte count a Rust slice may span.
const MAX_SLICE_BYTES: usize = isize::MAX as usize;

/// Checks a C array argument of `count` elements: NULL is allowed only when
/// `count` is 0, the pointer must be aligned for `T`, and the byte size must
/// fit a Rust slice. Returns whether the array holds any element.
#[inline(always)]
fn check_array<T>(ptr: *const T, count: usize) -> FfiResult<bool> {
    if count == 0 {
        return Ok(false);
    }
    if ptr.is_null() {
        return Err(NULL);
    }
    // `count * size_of::<T>() <= MAX_SLICE_BYTES`, without a multiply
    // (the division folds to a constant).
    let max = MAX_SLICE_BYTES / core::mem::size_of::<T>().max(1);
    if count > max || !ptr.is_aligned() {
        return Err(Failure(PR_ERR_INVALID_ARGUMENT));
    }
    Ok(true)
}

/// Borrows a C input buffer of `len` bytes; NULL is allowed only when `len`
/// is 0.
///
/// # Safety
/// A non-NULL `ptr` must be readable for `len` bytes and not written by
/// anyone during the borrow.
pub(crate) unsafe fn in_bytes<'a>(ptr: *const c_void, len: usize) -> FfiResult<&'a [u8]> {
    // SAFETY: forwarded contract.
    unsafe { in_array(ptr.cast::<u8>(), len) }
}

/// Borrows a C output buffer of `len` bytes; NULL is allowed only when
/// `len` is 0.
///
/// # Safety
/// A non-NULL `ptr` must be writable for `len` bytes and not accessed by
/// anyone else during the borrow. Its old contents are not read; they are
/// treated as bytes (C callers pass plain memory).
pub(crate) unsafe fn out_bytes<'a>(ptr: *mut c_void, len: usize) -> FfiResult<&'a mut [u8]> {
    // SAFETY: forwarded contract; any bit pattern is a valid u8.
    unsafe { out_array(ptr.cast::<u8>(), len) }
}

/// Borrows a C array of `count` elements of `T`; see [`check_array`].
///
/// # Safety
/// A non-NULL `ptr` must be readable for `count` elements and not written
/// during the borrow.
pub(crate) unsafe fn in_array<'a, T>(ptr: *const T, count: usize) -> FfiResult<&'a [T]> {
    if !check_array(ptr, count)? {
        return Ok(&[]);
    }
    // SAFETY: non-NULL, aligned, readable for `count` elements whose total
    // size fits in isize, per `check_array` and the contract.
    Ok(unsafe { core::slice::from_raw_parts(ptr, count) })
}

/// Borrows a C output array of `count` elements of `T`; see
/// [`check_array`]. `T` must be plain data (any bit pattern valid), since
/// whatever the array held is taken as initialized.
///
/// # Safety
/// A non-NULL `ptr` must be writable for `count` elements and not accessed
/// by anyone else during the borrow.
pub(crate) unsafe fn out_array<'a, T: Copy>(ptr: *mut T, count: usize) -> FfiResult<&'a mut [T]> {
    if !check_array(ptr.cast_const(), count)? {
        return Ok(&mut []);
    }
    // SAFETY: non-NULL, aligned, writable for `count` elements whose total
    // size fits in isize, per `check_array` and the contract; the elements
    // are plain data.
    Ok(unsafe { core::slice::from_raw_parts_mut(ptr, count) })
}
