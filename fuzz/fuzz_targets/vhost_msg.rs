//! `vhost_msg`: the vhost-user-blk device's message parser, the C function
//! `vu_msg_parse` (examples/vhost-user-blk/vu_msg.c, compiled by build.rs
//! with ASan when cargo-fuzz builds with it), against an independent Rust
//! model of the rules vu_msg.h / vu_msg.c document.
//!
//! Input: three control bytes, then the message bytes verbatim (header
//! request u32, flags u32, size u32, all little-endian, then the payload),
//! so a captured vhost-user message is a seed once prefixed.
//!
//! * byte 0: bits 0-5 queue count of the limits (0..=8, else 255, 256,
//!   2^31 or u32::MAX); bit 6 limits NULL; bit 7 the negative descriptor
//!   (byte 1 bit 4) is i32::MIN rather than -1.
//! * byte 1: bits 0-3 descriptor count (15: the count a front-end would
//!   send with this request and payload, see `sender_fds`); bit 4 the last descriptor is negative;
//!   bit 5 descriptors pointer NULL; bit 6 rewrite the size field to the
//!   real payload length; bit 7 rewrite the version bits to 1 and clear
//!   the reply bit.
//! * byte 2: bits 0-1 the `why` buffer (256 bytes, NULL, length 0, or
//!   length 1 + bits 4-7); bit 2 bytes NULL; bit 3 out NULL.
//!
//! The descriptors are real (/dev/null opened per run, closed afterwards).
//! The message, descriptors, `why` and `out` are exact-size heap blocks,
//! so an access past `len`, `nfds` or `why_len` is an ASan report.
//!
//! Checks, for every input:
//! * the result equals the model's verdict (OK / FRAMING / UNKNOWN /
//!   INVALID);
//! * on OK, the whole `struct vu_msg` equals the model's image byte for
//!   byte: header fields, the decoded payload member, zero everywhere
//!   else (the parser zeroes it first), fds copied and nfds;
//! * on failure, request/flags/size still hold the header when it could be
//!   read, and no descriptors are handed out (nfds 0);
//! * `why`: empty on OK, a NUL-terminated non-empty reason on failure
//!   (when at least 2 bytes), never written past `why_len` (untouched at
//!   length 0);
//! * the descriptors are neither changed nor closed;
//! * a second call (why NULL) gives the same result and the same `out`;
//! * `vu_request_name` / `vu_request_has_reply` agree with the model.

#![no_main]

use core::ffi::{c_char, c_int, CStr};
use core::hint::black_box;
use core::mem::{offset_of, size_of};

use libfuzzer_sys::fuzz_target;

// ---------------------------------------------------------------------------
// The C API (vu_msg.h).

const HDR: usize = 12;
const MAX_FDS: usize = 8;
const MAX_REGIONS: usize = 8;
const CONFIG_MAX: usize = 256;
const MAX_PAYLOAD: u32 = 4096;
const MAX_QUEUE_SIZE: u32 = 32768;

const PARSE_OK: c_int = 0;
const PARSE_FRAMING: c_int = -1;
const PARSE_UNKNOWN: c_int = -2;
const PARSE_INVALID: c_int = -3;

#[repr(C)]
#[derive(Clone, Copy)]
struct VuRegion {
    guest_phys_addr: u64,
    memory_size: u64,
    userspace_addr: u64,
    mmap_offset: u64,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct VuVringState {
    index: u32,
    num: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct VuVringAddr {
    index: u32,
    flags: u32,
    desc_user_addr: u64,
    used_user_addr: u64,
    avail_user_addr: u64,
    log_guest_addr: u64,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct VuFile {
    index: u32,
    nofd: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct VuMem {
    nregions: u32,
    regions: [VuRegion; MAX_REGIONS],
}

#[repr(C)]
#[derive(Clone, Copy)]
struct VuLog {
    mmap_size: u64,
    mmap_offset: u64,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct VuConfig {
    offset: u32,
    size: u32,
    flags: u32,
    region: [u8; CONFIG_MAX],
}

#[repr(C)]
#[derive(Clone, Copy)]
#[allow(dead_code)]
union VuPayload {
    u64_: u64,
    state: VuVringState,
    addr: VuVringAddr,
    file: VuFile,
    mem: VuMem,
    region: VuRegion,
    log: VuLog,
    config: VuConfig,
}

#[repr(C)]
struct VuMsg {
    request: u32,
    flags: u32,
    size: u32,
    p: VuPayload,
    fds: [c_int; MAX_FDS],
    nfds: u32,
}

#[repr(C)]
struct VuParseLimits {
    queues: u32,
}

// libvu_msg.a: built by build.rs from examples/vhost-user-blk/vu_msg.c.
#[link(name = "vu_msg", kind = "static")]
extern "C" {
    fn vu_msg_parse(
        bytes: *const u8,
        len: usize,
        fds: *const c_int,
        nfds: usize,
        limits: *const VuParseLimits,
        out: *mut VuMsg,
        why: *mut c_char,
        why_len: usize,
    ) -> c_int;
    fn vu_request_name(request: u32) -> *const c_char;
    fn vu_request_has_reply(request: u32) -> c_int;
}

// Byte offsets in `struct vu_msg` (x86-64 SysV), checked against the
// repr(C) declarations above.
const MSG_SIZE: usize = 328;
const OFF_P: usize = 16;
const OFF_FDS: usize = 288;
const OFF_NFDS: usize = 320;
const _: () = {
    assert!(size_of::<VuMsg>() == MSG_SIZE);
    assert!(offset_of!(VuMsg, p) == OFF_P);
    assert!(offset_of!(VuMsg, fds) == OFF_FDS);
    assert!(offset_of!(VuMsg, nfds) == OFF_NFDS);
    assert!(size_of::<VuPayload>() == OFF_FDS - OFF_P);
    assert!(size_of::<VuRegion>() == 32);
    assert!(size_of::<VuVringAddr>() == 40);
    assert!(offset_of!(VuMem, regions) == 8);
    assert!(offset_of!(VuConfig, region) == 12);
};

// ---------------------------------------------------------------------------
// The model: the rules as vu_msg.h and the comments of vu_msg.c state them,
// written from the protocol (QEMU docs/interop/vhost-user.rst), not from
// the C's control flow.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Ok,
    Framing,
    Unknown,
    Invalid,
}

impl Verdict {
    fn from_c(rc: c_int) -> Option<Verdict> {
        match rc {
            PARSE_OK => Some(Verdict::Ok),
            PARSE_FRAMING => Some(Verdict::Framing),
            PARSE_UNKNOWN => Some(Verdict::Unknown),
            PARSE_INVALID => Some(Verdict::Invalid),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Region {
    gpa: u64,
    size: u64,
    uaddr: u64,
    mmap_offset: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Payload {
    None,
    U64(u64),
    State {
        index: u32,
        num: u32,
    },
    Addr {
        index: u32,
        flags: u32,
        addrs: [u64; 4],
    },
    File {
        index: u32,
        nofd: bool,
    },
    Mem(Vec<Region>),
    Region(Region),
    Log {
        size: u64,
        offset: u64,
    },
    Config {
        offset: u32,
        size: u32,
        flags: u32,
        data: Vec<u8>,
    },
}

/// How many descriptors a request takes.
#[derive(Clone, Copy, Debug)]
enum FdRule {
    Exactly(usize),
    /// REM_MEM_REGION: QEMU sends the region's fd, other front-ends may not.
    AtMostOne,
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

fn region_at(p: &[u8], at: usize) -> Region {
    Region {
        gpa: le64(p, at),
        size: le64(p, at + 8),
        uaddr: le64(p, at + 16),
        mmap_offset: le64(p, at + 24),
    }
}

/// A region is usable when it is not empty, its last guest and user byte
/// have 64-bit addresses, and its end in the mapped file fits in 64 bits.
/// (Written as 64-bit comparisons against `MAX - x`, kept from being folded
/// into overflow checks, so that libFuzzer's compare tracing sees the exact
/// boundary values.)
fn region_ok(r: &Region) -> bool {
    r.size != 0
        && r.gpa <= room(r.size - 1)
        && r.uaddr <= room(r.size - 1)
        && r.mmap_offset <= room(r.size)
}

/// The largest `x` with `x + n` in 64 bits.
fn room(n: u64) -> u64 {
    black_box(u64::MAX - n)
}

/// Requests the header names (vu_request_name knows them).
const NAMED: &[u32] = &[
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 31,
    32, 34, 36, 37, 38, 39, 40,
];
/// Requests with a reply of their own.
const WITH_REPLY: &[u32] = &[1, 11, 15, 17, 24, 36];

/// The payload and descriptor rules of one request, given its payload
/// bytes (the size field already matched) and the queue count.
fn model_payload(req: u32, p: &[u8], queues: u32) -> Result<(Payload, FdRule), Verdict> {
    use FdRule::*;
    use Verdict::{Invalid, Unknown};
    let exact = |n: usize| if p.len() == n { Ok(()) } else { Err(Invalid) };
    let vring = |i: u32| if i < queues { Ok(()) } else { Err(Invalid) };
    let ensure = |c: bool| if c { Ok(()) } else { Err(Invalid) };
    Ok(match req {
        // GET_FEATURES, SET_OWNER, RESET_OWNER, GET_PROTOCOL_FEATURES,
        // GET_QUEUE_NUM, GET_MAX_MEM_SLOTS: no payload.
        1 | 3 | 4 | 15 | 17 | 36 => {
            exact(0)?;
            (Payload::None, Exactly(0))
        }
        // SET_FEATURES, SET_PROTOCOL_FEATURES: a u64, any value.
        2 | 16 => {
            exact(8)?;
            (Payload::U64(le64(p, 0)), Exactly(0))
        }
        // SET_VRING_NUM / SET_VRING_BASE / GET_VRING_BASE / SET_VRING_ENABLE:
        // vring state {index, num}.
        8 | 10 | 11 | 18 => {
            exact(8)?;
            let (index, num) = (le32(p, 0), le32(p, 4));
            vring(index)?;
            match req {
                // A queue size: a power of two up to 32768.
                8 => ensure(num.is_power_of_two() && num <= MAX_QUEUE_SIZE)?,
                // A split ring's 16-bit avail index.
                10 => ensure(num <= 0xffff)?,
                // Enable: 0 or 1.
                18 => ensure(num <= 1)?,
                _ => {}
            }
            (Payload::State { index, num }, Exactly(0))
        }
        // SET_VRING_ADDR: {index, flags, 4 addresses}; only the LOG flag.
        9 => {
            exact(40)?;
            let (index, flags) = (le32(p, 0), le32(p, 4));
            vring(index)?;
            ensure(flags & !1 == 0)?;
            let addrs = [le64(p, 8), le64(p, 16), le64(p, 24), le64(p, 32)];
            (
                Payload::Addr {
                    index,
                    flags,
                    addrs,
                },
                Exactly(0),
            )
        }
        // SET_VRING_KICK/CALL/ERR: u64, index in bits 0-7, bit 8 "no fd",
        // nothing else; one fd unless bit 8.
        12 | 13 | 14 => {
            exact(8)?;
            let v = le64(p, 0);
            ensure(v >> 9 == 0)?;
            let (index, nofd) = ((v & 0xff) as u32, v & 0x100 != 0);
            vring(index)?;
            (Payload::File { index, nofd }, Exactly(usize::from(!nofd)))
        }
        // SET_MEM_TABLE: {nregions u32, padding u32, regions[]}; 1..=8
        // regions, sent as just those or as the full 8-entry array; each
        // used region valid; one fd per region.
        5 => {
            ensure(p.len() >= 8)?;
            let n = le32(p, 0) as usize;
            ensure((1..=MAX_REGIONS).contains(&n))?;
            ensure(p.len() == 8 + 32 * n || p.len() == 8 + 32 * MAX_REGIONS)?;
            let regions: Vec<Region> = (0..n).map(|i| region_at(p, 8 + 32 * i)).collect();
            ensure(regions.iter().all(region_ok))?;
            (Payload::Mem(regions), Exactly(n))
        }
        // SET_LOG_BASE: {mmap_size, mmap_offset}: a non-empty log whose end
        // fits in 64 bits, 8-byte aligned offset; one fd.
        6 => {
            exact(16)?;
            let (size, offset) = (le64(p, 0), le64(p, 8));
            ensure(size != 0 && offset <= room(size) && offset % 8 == 0)?;
            (Payload::Log { size, offset }, Exactly(1))
        }
        // GET_CONFIG / SET_CONFIG: {offset, size, flags} then exactly
        // `size` bytes; offset + size within the 256-byte config space.
        24 | 25 => {
            ensure(p.len() >= 12)?;
            let (offset, size, flags) = (le32(p, 0), le32(p, 4), le32(p, 8));
            ensure(size <= CONFIG_MAX as u32 && offset <= CONFIG_MAX as u32 - size)?;
            ensure(p.len() == 12 + size as usize)?;
            let data = p[12..].to_vec();
            (
                Payload::Config {
                    offset,
                    size,
                    flags,
                    data,
                },
                Exactly(0),
            )
        }
        // ADD_MEM_REGION: {padding u64, region}, a valid region, one fd.
        37 => {
            exact(40)?;
            let r = region_at(p, 8);
            ensure(region_ok(&r))?;
            (Payload::Region(r), Exactly(1))
        }
        // REM_MEM_REGION: same layout, the region is not checked (it only
        // names one to drop), 0 or 1 fd.
        38 => {
            exact(40)?;
            (Payload::Region(region_at(p, 8)), AtMostOne)
        }
        // SET_BACKEND_REQ_FD: no payload, one fd.
        21 => {
            exact(0)?;
            (Payload::None, Exactly(1))
        }
        // Everything else, named or not, is not implemented.
        _ => return Err(Unknown),
    })
}

struct Call<'a> {
    bytes: Option<&'a [u8]>,
    fds: Option<&'a [c_int]>,
    nfds: usize,
    queues: Option<u32>,
    out: bool,
}

/// The verdict, and on OK the decoded payload.
fn model(c: &Call) -> Result<Payload, Verdict> {
    use Verdict::{Framing, Invalid};
    let (Some(queues), true) = (c.queues, c.out) else {
        return Err(Framing);
    };
    let Some(b) = c.bytes.filter(|b| b.len() >= HDR) else {
        return Err(Framing);
    };
    let (req, flags, size) = (le32(b, 0), le32(b, 4), le32(b, 8));
    // Framing: version 1, not a reply, size within the limit and equal to
    // the bytes that follow the header; descriptors present and valid.
    if flags & 3 != 1 || flags & 4 != 0 || size > MAX_PAYLOAD || b.len() != HDR + size as usize {
        return Err(Framing);
    }
    match c.fds {
        None if c.nfds > 0 => return Err(Framing),
        Some(f) if f[..c.nfds].iter().any(|&fd| fd < 0) => return Err(Framing),
        _ => {}
    }
    let (payload, rule) = model_payload(req, &b[HDR..], queues)?;
    let fds_ok = match rule {
        FdRule::Exactly(n) => c.nfds == n,
        FdRule::AtMostOne => c.nfds <= 1,
    };
    if !fds_ok {
        return Err(Invalid);
    }
    Ok(payload)
}

/// The descriptor count a front-end would send with these bytes (control
/// byte 1's "auto" count): one per region a SET_MEM_TABLE announces, one
/// for the fd-carrying requests, none for a vring file with the "no fd"
/// bit. Taken from the request and raw payload only, never from the
/// model's verdict, so that a model/C disagreement on the payload is not
/// hidden behind a descriptor-count refusal.
fn sender_fds(bytes: &[u8]) -> usize {
    if bytes.len() < HDR {
        return 0;
    }
    let p = &bytes[HDR..];
    match le32(bytes, 0) {
        5 if p.len() >= 4 => (le32(p, 0) as usize).min(14),
        6 | 21 | 37 | 38 => 1,
        12..=14 => usize::from(p.get(1).map_or(true, |b| b & 1 == 0)),
        _ => 0,
    }
}

/// The `struct vu_msg` an accepted message must produce.
fn image(hdr: &[u8], payload: &Payload, fds: &[c_int]) -> [u8; MSG_SIZE] {
    let mut m = [0u8; MSG_SIZE];
    let mut put = |at: usize, v: &[u8]| m[at..at + v.len()].copy_from_slice(v);
    put(0, &hdr[..HDR]);
    let p = OFF_P;
    let region = |put: &mut dyn FnMut(usize, &[u8]), at: usize, r: &Region| {
        put(at, &r.gpa.to_le_bytes());
        put(at + 8, &r.size.to_le_bytes());
        put(at + 16, &r.uaddr.to_le_bytes());
        put(at + 24, &r.mmap_offset.to_le_bytes());
    };
    match payload {
        Payload::None => {}
        Payload::U64(v) => put(p, &v.to_le_bytes()),
        Payload::State { index, num } => {
            put(p, &index.to_le_bytes());
            put(p + 4, &num.to_le_bytes());
        }
        Payload::Addr {
            index,
            flags,
            addrs,
        } => {
            put(p, &index.to_le_bytes());
            put(p + 4, &flags.to_le_bytes());
            for (i, a) in addrs.iter().enumerate() {
                put(p + 8 + 8 * i, &a.to_le_bytes());
            }
        }
        Payload::File { index, nofd } => {
            put(p, &index.to_le_bytes());
            put(p + 4, &u32::from(*nofd).to_le_bytes());
        }
        Payload::Mem(regions) => {
            put(p, &(regions.len() as u32).to_le_bytes());
            for (i, r) in regions.iter().enumerate() {
                region(&mut put, p + 8 + 32 * i, r);
            }
        }
        Payload::Region(r) => region(&mut put, p, r),
        Payload::Log { size, offset } => {
            put(p, &size.to_le_bytes());
            put(p + 8, &offset.to_le_bytes());
        }
        Payload::Config {
            offset,
            size,
            flags,
            data,
        } => {
            put(p, &offset.to_le_bytes());
            put(p + 4, &size.to_le_bytes());
            put(p + 8, &flags.to_le_bytes());
            put(p + 12, data);
        }
    }
    for (i, fd) in fds.iter().enumerate() {
        put(OFF_FDS + 4 * i, &fd.to_le_bytes());
    }
    put(OFF_NFDS, &(fds.len() as u32).to_le_bytes());
    m
}

// ---------------------------------------------------------------------------
// The target.

/// Descriptors open for one run: /dev/null, closed on drop.
struct Fds(Vec<c_int>);

impl Fds {
    fn open(n: usize) -> Fds {
        let fds = (0..n)
            .map(|_| {
                let fd =
                    unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
                assert!(fd >= 0, "open /dev/null");
                fd
            })
            .collect();
        Fds(fds)
    }
}

impl Drop for Fds {
    fn drop(&mut self) {
        for &fd in &self.0 {
            // Still open: the parser must not close what it was given.
            assert!(
                unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0,
                "fd {fd} was closed"
            );
            assert_eq!(unsafe { libc::close(fd) }, 0);
        }
    }
}

const WHY_BIG: usize = 256;
const FILL: u8 = 0xa5;

fn as_bytes(m: &VuMsg) -> [u8; MSG_SIZE] {
    // SAFETY: `m` was filled with FILL bytes before the call, so every byte
    // (padding included) is initialized.
    unsafe { core::mem::transmute_copy(m) }
}

fn filled_msg() -> Box<VuMsg> {
    let mut b = Box::<VuMsg>::new_uninit();
    // SAFETY: all bytes written; every bit pattern is a valid VuMsg.
    unsafe {
        core::ptr::write_bytes(b.as_mut_ptr() as *mut u8, FILL, MSG_SIZE);
        b.assume_init()
    }
}

fuzz_target!(|data: &[u8]| {
    let ctl = |i: usize| data.get(i).copied().unwrap_or(0);
    let (c0, c1, c2) = (ctl(0), ctl(1), ctl(2));
    let queues = match c0 & 0x3f {
        q @ 0..=8 => q as u32,
        q => [255, 256, 1 << 31, u32::MAX][(q % 4) as usize],
    };
    let limits_null = c0 & 0x40 != 0;
    let negative = if c0 & 0x80 != 0 { i32::MIN } else { -1 };

    // The message, in an exact-size heap block.
    let mut msg: Vec<u8> = data.get(3..).unwrap_or(&[]).to_vec();
    if c1 & 0x40 != 0 && msg.len() >= HDR {
        let size = (msg.len() - HDR) as u32;
        msg[8..12].copy_from_slice(&size.to_le_bytes());
    }
    if c1 & 0x80 != 0 && msg.len() >= HDR {
        let flags = (le32(&msg, 4) & !7) | 1;
        msg[4..8].copy_from_slice(&flags.to_le_bytes());
    }
    let bytes_null = c2 & 0x04 != 0;
    let out_null = c2 & 0x08 != 0;

    // Descriptors: real ones, the last one replaced by a negative number
    // when asked; an exact-size array.
    let nfds = match c1 & 0x0f {
        15 => sender_fds(&msg),
        n => n as usize,
    };
    let opened = Fds::open(nfds);
    let mut fds: Vec<c_int> = opened.0.clone();
    if c1 & 0x10 != 0 {
        if let Some(last) = fds.last_mut() {
            *last = negative;
        }
    }
    let fds_null = c1 & 0x20 != 0 && nfds > 0;
    let fds_before = fds.clone();

    // `why`: (buffer, length passed).
    let mut why: Option<(Vec<u8>, usize)> = match c2 & 3 {
        0 => Some((vec![FILL; WHY_BIG], WHY_BIG)),
        1 => None,
        2 => Some((vec![FILL; 1], 0)),
        _ => {
            let n = 1 + (c2 >> 4) as usize;
            Some((vec![FILL; n], n))
        }
    };

    let limits = Box::new(VuParseLimits { queues });
    let mut out = filled_msg();

    let call = |out: *mut VuMsg, why: *mut c_char, why_len: usize| unsafe {
        vu_msg_parse(
            if bytes_null {
                core::ptr::null()
            } else {
                msg.as_ptr()
            },
            msg.len(),
            if fds_null {
                core::ptr::null()
            } else {
                fds.as_ptr()
            },
            nfds,
            if limits_null {
                core::ptr::null()
            } else {
                &*limits
            },
            out,
            why,
            why_len,
        )
    };
    let out_ptr: *mut VuMsg = if out_null {
        core::ptr::null_mut()
    } else {
        &mut *out
    };
    let rc = match why.as_mut() {
        Some((buf, n)) => call(out_ptr, buf.as_mut_ptr() as *mut c_char, *n),
        None => call(out_ptr, core::ptr::null_mut(), 0),
    };

    let c = Call {
        bytes: (!bytes_null).then_some(&msg[..]),
        fds: (!fds_null).then_some(&fds[..]),
        nfds,
        queues: (!limits_null).then_some(queues),
        out: !out_null,
    };
    let want = model(&c);
    let got = Verdict::from_c(rc).unwrap_or_else(|| panic!("vu_msg_parse returned {rc}"));
    let why_text = why
        .as_ref()
        .and_then(|(b, n)| CStr::from_bytes_until_nul(&b[..*n]).ok())
        .map(|s| s.to_string_lossy().into_owned());
    let want_verdict = match &want {
        Ok(_) => Verdict::Ok,
        Err(v) => *v,
    };
    assert_eq!(
        got, want_verdict,
        "verdict: C {got:?} ({why_text:?}), model {want:?}; msg {:02x?} nfds {nfds} queues {queues}",
        &msg[..msg.len().min(64)]
    );

    // `why`.
    if let Some((buf, n)) = &why {
        if *n == 0 {
            assert_eq!(buf[0], FILL, "why written with why_len 0");
        } else {
            let text = why_text
                .as_deref()
                .expect("why not NUL-terminated within why_len");
            if got == Verdict::Ok {
                assert!(text.is_empty(), "why {text:?} on success");
            } else if *n >= 2 {
                assert!(!text.is_empty(), "refused without a reason");
            }
        }
    }

    // Descriptors untouched.
    assert_eq!(fds, fds_before);

    // `out`.
    if !out_null && !limits_null {
        let img = as_bytes(&out);
        match &want {
            Ok(payload) => {
                let expect = image(&msg, payload, &fds[..nfds]);
                if img != expect {
                    let diff: Vec<usize> = (0..MSG_SIZE).filter(|&i| img[i] != expect[i]).collect();
                    panic!(
                        "out differs at bytes {diff:?}: model {payload:?}, nfds {nfds}; msg {:02x?}",
                        &msg[..msg.len().min(64)]
                    );
                }
            }
            Err(_) => {
                if !bytes_null && msg.len() >= HDR {
                    assert_eq!(&img[..HDR], &msg[..HDR], "header not kept on failure");
                }
                assert_eq!(out.nfds, 0, "descriptors handed out on failure");
            }
        }
        // Purity: again, without `why`, into a fresh block.
        let mut again = filled_msg();
        let rc2 = call(&mut *again, core::ptr::null_mut(), 0);
        assert_eq!(rc2, rc, "second call");
        assert!(
            as_bytes(&again) == img,
            "second call filled out differently"
        );
    }

    // Names and replies.
    if msg.len() >= HDR {
        let req = le32(&msg, 0);
        let name = unsafe { CStr::from_ptr(vu_request_name(req)) };
        assert_eq!(
            name.to_bytes() == b"UNKNOWN",
            !NAMED.contains(&req),
            "name of {req}"
        );
        let reply = unsafe { vu_request_has_reply(req) } != 0;
        assert_eq!(reply, WITH_REPLY.contains(&req), "has_reply of {req}");
    }

    drop(opened);
});
