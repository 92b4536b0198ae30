//! [`Span`]: `len` bytes from `start` in some byte space; the one piece of
//! narrowing arithmetic (subrange, skip, truncate, split) that windows,
//! buffers and cursors share.

use crate::error::OutOfRange;

/// `len` bytes starting at byte `start` of a byte space: a window's bytes
/// in the flat byte space of its page list, or a buffer's logical bytes.
/// The spans this crate makes end within `usize`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// Bytes.
    pub len: usize,
}

impl Span {
    /// `offset .. offset + len` of a space of `available` bytes.
    pub(crate) fn within(offset: usize, len: usize, available: usize) -> Result<Self, OutOfRange> {
        match offset.checked_add(len) {
            Some(end) if end <= available => Ok(Self { start: offset, len }),
            _ => Err(OutOfRange {
                offset,
                len,
                available,
            }),
        }
    }

    /// One past the last byte.
    pub(crate) const fn end(&self) -> usize {
        self.start + self.len
    }

    /// The `len` bytes starting `offset` bytes into this span.
    pub(crate) fn sub(&self, offset: usize, len: usize) -> Result<Self, OutOfRange> {
        let inner = Self::within(offset, len, self.len)?;
        Ok(Self {
            start: self.start + inner.start,
            len,
        })
    }

    /// Drops the first `n` bytes; unchanged on error.
    pub(crate) fn skip(&mut self, n: usize) -> Result<(), OutOfRange> {
        if n > self.len {
            return Err(self.refuse(n));
        }
        self.start += n;
        self.len -= n;
        Ok(())
    }

    /// Keeps the first `n` bytes; unchanged on error.
    pub(crate) fn truncate(&mut self, n: usize) -> Result<(), OutOfRange> {
        if n > self.len {
            return Err(self.refuse(n));
        }
        self.len = n;
        Ok(())
    }

    /// `..at` and `at..`.
    pub(crate) fn split(&self, at: usize) -> Result<(Self, Self), OutOfRange> {
        let mut back = *self;
        back.skip(at)?;
        Ok((
            Self {
                start: self.start,
                len: at,
            },
            back,
        ))
    }

    /// The error for asking `n` bytes from the front.
    pub(crate) fn refuse(&self, n: usize) -> OutOfRange {
        OutOfRange {
            offset: 0,
            len: n,
            available: self.len,
        }
    }
}

/// Unwraps the result of a `try_` method for its panicking twin, naming the
/// method in the message.
#[track_caller]
pub(crate) fn or_panic<T>(method: &str, r: Result<T, OutOfRange>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{method}: {e}"),
    }
}

/// `try_skip`, `try_truncate` and their panicking twins, for a type whose
/// bytes in use are its `span` field: written once for windows, buffers of
/// windows and owned buffers. `$what` names the bytes ("window"), `$ty` the
/// type in panic messages.
macro_rules! narrowing {
    ($what:literal, $ty:literal) => {
        #[doc = concat!("Drops the first `len` bytes of the ", $what, "; unchanged on error.")]
        pub fn try_skip(&mut self, len: usize) -> Result<(), $crate::OutOfRange> {
            self.span.skip(len)
        }

        #[doc = concat!("Drops the first `len` bytes of the ", $what, ".")]
        ///
        /// # Panics
        /// When `len > self.len()`; see `try_skip`.
        #[track_caller]
        pub fn skip(&mut self, len: usize) {
            $crate::span::or_panic(concat!($ty, "::skip"), self.try_skip(len))
        }

        #[doc = concat!("Shortens the ", $what, " to its first `len` bytes; unchanged on error.")]
        pub fn try_truncate(&mut self, len: usize) -> Result<(), $crate::OutOfRange> {
            self.span.truncate(len)
        }

        #[doc = concat!("Shortens the ", $what, " to its first `len` bytes.")]
        ///
        /// # Panics
        /// When `len > self.len()`; see `try_truncate`.
        #[track_caller]
        pub fn truncate(&mut self, len: usize) {
            $crate::span::or_panic(concat!($ty, "::truncate"), self.try_truncate(len))
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrowing() {
        let s = Span::within(10, 20, 40).unwrap();
        assert_eq!(s.end(), 30);
        assert_eq!(
            Span::within(usize::MAX, 1, usize::MAX),
            Err(OutOfRange {
                offset: usize::MAX,
                len: 1,
                available: usize::MAX
            })
        );
        assert_eq!(s.sub(5, 15), Ok(Span { start: 15, len: 15 }));
        assert!(s.sub(5, 16).is_err());
        let mut k = s;
        assert_eq!(k.skip(21), Err(s.refuse(21)));
        assert_eq!(k, s, "a refused skip changes nothing");
        k.skip(20).unwrap();
        assert_eq!(k, Span { start: 30, len: 0 });
        let mut t = s;
        t.truncate(3).unwrap();
        assert_eq!(t, Span { start: 10, len: 3 });
        assert!(t.truncate(4).is_err());
        let (a, b) = s.split(8).unwrap();
        assert_eq!(
            (a, b),
            (Span { start: 10, len: 8 }, Span { start: 18, len: 12 })
        );
        assert_eq!(s.split(21).unwrap_err().available, 20);
    }
}
