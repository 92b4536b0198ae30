//! The C ABI (see `include/pagedrange.h`).
