//! Connection to a vhost-user-blk backend through libblkio, one mapped
//! memory region for all data buffers, and completion waiting over several
//! queues from one thread.

use blkio::{Blkio, Blkioq, Completion, MemoryRegion};
use std::mem::MaybeUninit;
use std::time::Duration;

/// What the backend told libblkio at connect time (libblkio properties).
/// Some fields are only printed (`info`, verify's log line).
#[derive(Debug, Clone)]
#[allow(dead_code)]
pub struct Info {
    pub capacity: u64,
    pub max_queues: i32,
    pub queue_size: i32,
    /// Data segments per request (virtio-blk `seg_max`; 1 if not offered).
    pub max_segments: i32,
    /// Bytes per segment (virtio-blk `size_max`; 0: no limit).
    pub max_segment_len: i32,
    /// Bytes per request (0: no limit).
    pub max_transfer: i32,
    /// Offset and length granularity of requests (`blk_size`, else 512).
    pub request_alignment: i32,
    /// Alignment of buffer addresses (1 for vhost-user).
    pub buf_alignment: i32,
    pub optimal_buf_alignment: i32,
    /// Alignment of memory regions' address and length.
    pub mem_region_alignment: u64,
    pub max_mem_regions: u64,
    pub max_write_zeroes_len: u64,
    pub flush_needed: bool,
    pub needs_mem_regions: bool,
}

pub struct Device {
    pub info: Info,
    pub queues: Vec<Blkioq>,
    /// Data buffer regions, each mapped with the backend (ADD_MEM_REGION).
    pub regions: Vec<MemoryRegion>,
    // Dropped last (after the queues): closes the vhost-user connection.
    blkio: Option<Blkio>,
}

fn e(what: &str, err: blkio::Error) -> String {
    format!("{what}: {} (errno {})", err.message(), err.errno().raw_os_error())
}

impl Device {
    /// Connects to `socket`, starts `num_queues` queues and maps one memory
    /// region per entry of `region_lens` (each rounded up to the page size)
    /// for the data buffers.
    pub fn open(socket: &str, num_queues: usize, region_lens: &[usize]) -> Result<Device, String> {
        let mut b = Blkio::new("virtio-blk-vhost-user").map_err(|x| e("blkio_new", x))?;
        b.set_str("path", socket).map_err(|x| e("set path", x))?;
        b.connect().map_err(|x| e(&format!("connect to {socket}"), x))?;
        let gi = |b: &Blkio, n: &str| b.get_i32(n).map_err(|x| e(n, x));
        let gu = |b: &Blkio, n: &str| b.get_u64(n).map_err(|x| e(n, x));
        let gb = |b: &Blkio, n: &str| b.get_bool(n).map_err(|x| e(n, x));
        let info = Info {
            capacity: gu(&b, "capacity")?,
            max_queues: gi(&b, "max-queues")?,
            queue_size: gi(&b, "queue-size")?,
            max_segments: gi(&b, "max-segments")?,
            max_segment_len: gi(&b, "max-segment-len")?,
            max_transfer: gi(&b, "max-transfer")?,
            request_alignment: gi(&b, "request-alignment")?,
            buf_alignment: gi(&b, "buf-alignment")?,
            optimal_buf_alignment: gi(&b, "optimal-buf-alignment")?,
            mem_region_alignment: gu(&b, "mem-region-alignment")?,
            max_mem_regions: gu(&b, "max-mem-regions")?,
            max_write_zeroes_len: gu(&b, "max-write-zeroes-len")?,
            flush_needed: gb(&b, "flush-needed")?,
            needs_mem_regions: gb(&b, "needs-mem-regions")?,
        };
        if num_queues as i64 > info.max_queues as i64 {
            return Err(format!(
                "backend offers {} queue(s), {} requested",
                info.max_queues, num_queues
            ));
        }
        b.set_i32("num-queues", num_queues as i32)
            .map_err(|x| e("set num-queues", x))?;
        let out = b.start().map_err(|x| e("start", x))?;
        let mut regions = Vec::new();
        for &len in region_lens {
            regions.push(new_region(&mut b, &info, len)?);
        }
        let mut queues = out.queues;
        // Completions are waited for on the queues' eventfds (see wait()):
        // keep used-buffer notifications on.
        for q in &mut queues {
            q.set_completion_fd_enabled(true);
        }
        Ok(Device {
            info,
            queues,
            regions,
            blkio: Some(b),
        })
    }

    pub fn mem(&self, i: usize) -> *mut u8 {
        self.regions[i].addr as *mut u8
    }

    /// Replaces region `i` by a fresh one of the same length: the backend
    /// sees REM_MEM_REGION then ADD_MEM_REGION. No request may use the
    /// region meanwhile. The new region may or may not get the same address.
    pub fn remap(&mut self, i: usize) -> Result<(), String> {
        let b = self.blkio.as_mut().unwrap();
        let old = self.regions[i];
        b.unmap_mem_region(&old);
        b.free_mem_region(&old);
        self.regions[i] = new_region(b, &self.info, old.len)?;
        Ok(())
    }

    /// Blocks until a completion fd of some queue is readable (and clears
    /// them), or `timeout` passes. Returns false on timeout.
    pub fn wait(&self, timeout: Duration) -> Result<bool, String> {
        let mut fds: Vec<libc::pollfd> = self
            .queues
            .iter()
            .map(|q| libc::pollfd {
                fd: q.get_completion_fd().unwrap_or(-1),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if r < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::Interrupted {
                return Ok(true);
            }
            return Err(format!("poll: {err}"));
        }
        for f in &fds {
            if f.revents & libc::POLLIN != 0 {
                let mut v = 0u64;
                // Non-blocking eventfd (libblkio sets O_NONBLOCK): clear it.
                unsafe { libc::read(f.fd, &mut v as *mut u64 as *mut libc::c_void, 8) };
            }
        }
        Ok(r > 0)
    }

    /// Closes the connection: queues first, then the libblkio instance
    /// (which unmaps the regions and closes the socket).
    pub fn close(mut self) {
        self.queues.clear();
        self.blkio.take();
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        self.queues.clear();
        self.blkio.take();
    }
}

/// Allocates (memfd, shared mapping) and maps a region of at least `len`
/// bytes, rounded up to the page size and to mem-region-alignment.
fn new_region(b: &mut Blkio, info: &Info, len: usize) -> Result<MemoryRegion, String> {
    let align = (info.mem_region_alignment as usize).max(4096);
    let len = len.max(align).div_ceil(align) * align;
    let region = b.alloc_mem_region(len).map_err(|x| e("alloc_mem_region", x))?;
    b.map_mem_region(&region).map_err(|x| e("map_mem_region", x))?;
    Ok(region)
}

/// Reaps whatever completions `q` has (also submits what was enqueued).
pub fn reap(
    q: &mut Blkioq,
    buf: &mut [MaybeUninit<Completion>],
) -> Result<usize, String> {
    q.do_io(buf, 0, None, None).map_err(|x| e("do_io", x))
}

/// The `ret` and `user_data` of a filled completion.
pub fn completion(c: &MaybeUninit<Completion>) -> (usize, i32) {
    let c = unsafe { c.assume_init_ref() };
    (c.user_data, c.ret)
}

pub fn errno_name(ret: i32) -> String {
    let errno = -ret;
    format!("{} (errno {})", std::io::Error::from_raw_os_error(errno), errno)
}
