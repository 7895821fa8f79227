//! The module's C allocator (`malloc`, `free` and the rest of the family),
//! for wasi-libc, for Rust's `System` allocator (which calls these here),
//! and for the host: `malloc` and `free` are exported (build.rs), and WAMR
//! copies every record and its tag in through them.
//!
//! Why not wasi-libc's own: WAMR runs the exported `malloc`/`free` in its
//! interpreter, four calls per record, and dlmalloc's path for a record's
//! copies costs about 400 instructions per record there. Here a freed
//! block of up to [`SPARE_MAX`] bytes is kept as a spare, and the next
//! request it fits takes it back: the host frees the copies of one record
//! and asks for the next record's moments later, so in steady state they
//! never reach dlmalloc, and the four calls cost about 210 instructions
//! (the instructions bench prints it). Everything else is dlmalloc (the `dlmalloc` crate, the same
//! algorithm wasi-libc ships; memory grows with `memory.grow`).
//!
//! Defining every symbol of wasi-libc's `dlmalloc.o` keeps the linker from
//! pulling that object in (its definitions would clash).
//!
//! Each block carries a 16-byte header before the address handed out: the
//! block's capacity (what a spare can hold) and the distance back to the
//! start of dlmalloc's allocation. Blocks are 16-byte aligned, as C's
//! `malloc` promises on wasm32 (`max_align_t`); dlmalloc aligns to 8, so
//! each allocation has 8 bytes of slack and its block starts at the first
//! 16-byte boundary past the header. dlmalloc can then grow a block in
//! place (`realloc`), as wasi-libc's did: a growing buffer does not need
//! its old and new copies at once.

use std::cell::UnsafeCell;
use std::ptr;

use dlmalloc::Dlmalloc;

/// Bytes before each block: its capacity, then its offset from the start
/// of dlmalloc's allocation (both `usize`), then unused.
const HEADER: usize = 16;
/// Alignment of every block (`alignof(max_align_t)` on wasm32).
const ALIGN: usize = 16;
/// dlmalloc's own alignment is two words (8 bytes on wasm32): this much
/// more room lets a block start at a 16-byte boundary wherever dlmalloc's
/// allocation starts.
const SLACK: usize = ALIGN - 2 * std::mem::size_of::<usize>();
/// The largest offset of an ordinary block (larger: `aligned_alloc`).
const MAX_OFFSET: usize = HEADER + SLACK;
/// Largest block kept as a spare: larger records are rare, and a spare is
/// memory the module holds while idle.
const SPARE_MAX: usize = 64 * 1024;
/// Spares kept, the most recently freed first: the host has two copies out
/// per record (tag and record).
const SPARES: usize = 2;
/// A spare serves a request of at least 1/`SPARE_FIT` of its capacity: a
/// record-sized spare is not spent on a small allocation.
const SPARE_FIT: usize = 16;

/// The smallest step capacities are rounded up by (a block of 1 to 64
/// bytes holds 64).
const MIN_CAPACITY: usize = 64;

/// errno values of WASI (wasi-libc's `errno.h`).
const EINVAL: i32 = 28;
const ENOMEM: i32 = 48;

struct Heap {
    dlmalloc: Dlmalloc,
    /// Freed blocks kept for the next requests (null: none).
    spares: [*mut u8; SPARES],
}

/// The one heap. wasm32-wasip1 has one thread, and nothing here calls back
/// into the allocator while holding the reference.
struct Global(UnsafeCell<Heap>);

// SAFETY: the module is single-threaded (wasm32-wasip1 without threads):
// the heap is never reached from two threads.
unsafe impl Sync for Global {}

static HEAP: Global = Global(UnsafeCell::new(Heap {
    dlmalloc: Dlmalloc::new(),
    spares: [ptr::null_mut(); SPARES],
}));

/// # Safety
/// The caller holds no other reference to the heap (every entry point
/// takes it once, and nothing it calls re-enters the allocator).
unsafe fn heap() -> &'static mut Heap {
    // SAFETY: single-threaded, and the caller's contract.
    unsafe { &mut *HEAP.0.get() }
}

/// The capacity a request for `n` bytes is rounded up to: up to the
/// largest spare, eight steps per power of two, so a spare serves the next
/// request of about the same size (records and tags vary by a few bytes).
fn capacity_for(n: usize) -> Option<usize> {
    // A block too large to be a spare is not rounded beyond alignment.
    if n > SPARE_MAX {
        return n.checked_next_multiple_of(ALIGN);
    }
    let step = (n.checked_next_power_of_two()? / 8).max(MIN_CAPACITY);
    n.checked_add(step - 1).map(|n| n & !(step - 1))
}

/// A request's capacity and the size of dlmalloc's allocation for it.
fn sizes_for(n: usize) -> Option<(usize, usize)> {
    let capacity = capacity_for(n)?;
    Some((capacity, capacity.checked_add(MAX_OFFSET)?))
}

/// Where an ordinary block starts in a dlmalloc allocation at `start`
/// (8-aligned): the first 16-byte boundary past the header, 16 or 24.
fn offset_at(start: *mut u8) -> usize {
    let after_header = start as usize + HEADER;
    after_header.next_multiple_of(ALIGN) - start as usize
}

/// Writes the header of a block `offset` bytes into the allocation at
/// `start` and returns the block.
///
/// # Safety
/// The allocation holds `offset + capacity` bytes and `offset >= HEADER`.
unsafe fn place(start: *mut u8, offset: usize, capacity: usize) -> *mut u8 {
    // SAFETY: the caller's contract: the header's two words lie between
    // `start` and the block.
    unsafe {
        let block = start.add(offset);
        let header = block.sub(HEADER).cast::<usize>();
        header.write(capacity);
        header.add(1).write(offset);
        block
    }
}

/// # Safety
/// `block` was handed out by this allocator and not freed.
unsafe fn block_capacity(block: *mut u8) -> usize {
    // SAFETY: every block has its header right before it.
    unsafe { block.sub(HEADER).cast::<usize>().read() }
}

/// # Safety
/// As [`block_capacity`].
unsafe fn block_offset(block: *mut u8) -> usize {
    // SAFETY: as `block_capacity`; the second word of the header.
    unsafe { block.sub(HEADER).cast::<usize>().add(1).read() }
}

impl Heap {
    /// A block of at least `n` bytes, from dlmalloc.
    fn allocate(&mut self, n: usize) -> *mut u8 {
        let Some((capacity, total)) = sizes_for(n) else {
            return ptr::null_mut();
        };
        // SAFETY: dlmalloc's `malloc`.
        let start = unsafe { self.dlmalloc.c_malloc(total) };
        if start.is_null() {
            return ptr::null_mut();
        }
        // SAFETY: `start` holds `total` bytes, room for the header, the
        // slack and `capacity`.
        unsafe { place(start, offset_at(start), capacity) }
    }

    /// A block of at least `n` bytes aligned to `align` (a power of two
    /// above [`ALIGN`]), from dlmalloc.
    fn allocate_aligned(&mut self, n: usize, align: usize) -> *mut u8 {
        let Some(capacity) = capacity_for(n) else {
            return ptr::null_mut();
        };
        let Some(total) = capacity.checked_add(align) else {
            return ptr::null_mut();
        };
        // SAFETY: `align` is a power of two.
        let start = unsafe { self.dlmalloc.c_memalign(align, total) };
        if start.is_null() {
            return ptr::null_mut();
        }
        // SAFETY: `start` is aligned to `align` (at least 32, so the
        // header fits before `start + align`) and holds `total` bytes.
        unsafe { place(start, align, capacity) }
    }

    /// Takes the smaller of the spares that hold `n` bytes and are not much
    /// larger (null if neither).
    fn take_spare(&mut self, n: usize) -> *mut u8 {
        let fit = |spare: *mut u8| {
            if spare.is_null() {
                return 0;
            }
            // SAFETY: a spare is a live block of this allocator.
            let capacity = unsafe { block_capacity(spare) };
            if capacity >= n && capacity / SPARE_FIT <= n.max(MIN_CAPACITY) {
                capacity
            } else {
                0
            }
        };
        let [first, second] = self.spares;
        let (a, b) = (fit(first), fit(second));
        if a != 0 && (b == 0 || a <= b) {
            self.spares[0] = ptr::null_mut();
            first
        } else if b != 0 {
            self.spares[1] = ptr::null_mut();
            second
        } else {
            ptr::null_mut()
        }
    }

    /// Keeps `block` as the most recent spare, or frees it (a block too
    /// large to keep, or made by `aligned_alloc`); when both spares are
    /// held the older one is freed.
    ///
    /// # Safety
    /// `block` was handed out by this allocator and not freed.
    unsafe fn release(&mut self, block: *mut u8) {
        // SAFETY: the caller's contract.
        let (capacity, offset) = unsafe { (block_capacity(block), block_offset(block)) };
        let freed = if offset > MAX_OFFSET || capacity > SPARE_MAX {
            block
        } else {
            let [newer, older] = self.spares;
            if newer.is_null() {
                self.spares[0] = block;
                return;
            }
            self.spares = [block, newer];
            older
        };
        if freed.is_null() {
            return;
        }
        // SAFETY: `freed` is a live block (the one given, or the spare it
        // displaced), and its header says where dlmalloc's allocation
        // starts.
        unsafe {
            let start = freed.sub(block_offset(freed));
            self.dlmalloc.c_free(start);
        }
    }
}

/// # Safety
/// C's `malloc`.
#[no_mangle]
pub unsafe extern "C" fn malloc(n: usize) -> *mut u8 {
    // SAFETY: one reference to the heap for this call.
    let heap = unsafe { heap() };
    let block = heap.take_spare(n);
    if !block.is_null() {
        return block;
    }
    heap.allocate(n)
}

/// # Safety
/// C's `free`: `block` is null or a live block of this allocator.
#[no_mangle]
pub unsafe extern "C" fn free(block: *mut u8) {
    if block.is_null() {
        return;
    }
    // SAFETY: one reference to the heap; the caller's contract.
    unsafe { heap().release(block) }
}

/// # Safety
/// C's `calloc`.
#[no_mangle]
pub unsafe extern "C" fn calloc(count: usize, size: usize) -> *mut u8 {
    let Some(n) = count.checked_mul(size) else {
        return ptr::null_mut();
    };
    // SAFETY: C's `malloc`; a non-null block holds `n` bytes.
    unsafe {
        let block = malloc(n);
        if !block.is_null() {
            block.write_bytes(0, n);
        }
        block
    }
}

/// # Safety
/// C's `realloc`: `block` is null or a live block of this allocator.
#[no_mangle]
pub unsafe extern "C" fn realloc(block: *mut u8, n: usize) -> *mut u8 {
    if block.is_null() {
        // SAFETY: C's `malloc`.
        return unsafe { malloc(n) };
    }
    // SAFETY: the caller's contract.
    let (capacity, offset) = unsafe { (block_capacity(block), block_offset(block)) };
    if n <= capacity {
        return block;
    }
    if offset > MAX_OFFSET {
        // From `aligned_alloc`: moved to an ordinary block (C's `realloc`
        // keeps only `malloc`'s alignment).
        // SAFETY: a new block of `n` bytes; the old one's `capacity`
        // bytes are copied, then it is freed.
        unsafe {
            let moved = malloc(n);
            if !moved.is_null() {
                ptr::copy_nonoverlapping(block, moved, capacity);
                free(block);
            }
            return moved;
        }
    }
    let Some((new_capacity, total)) = sizes_for(n) else {
        return ptr::null_mut();
    };
    // SAFETY: one reference to the heap; `block - offset` is the start of
    // its dlmalloc allocation, which dlmalloc grows in place or moves
    // (contents kept); null leaves the old block as it was.
    unsafe {
        let heap = heap();
        let start = heap.dlmalloc.c_realloc(block.sub(offset), total);
        if start.is_null() {
            return ptr::null_mut();
        }
        // Moved to an allocation of the other 8-byte parity: the contents
        // shift to the new block's place (both lie within `total` bytes).
        let new_offset = offset_at(start);
        if new_offset != offset {
            ptr::copy(start.add(offset), start.add(new_offset), capacity);
        }
        place(start, new_offset, new_capacity)
    }
}

/// # Safety
/// C's `aligned_alloc`.
#[no_mangle]
pub unsafe extern "C" fn aligned_alloc(align: usize, n: usize) -> *mut u8 {
    if !align.is_power_of_two() {
        return ptr::null_mut();
    }
    if align <= ALIGN {
        // SAFETY: C's `malloc`.
        return unsafe { malloc(n) };
    }
    // SAFETY: one reference to the heap.
    unsafe { heap().allocate_aligned(n, align) }
}

/// # Safety
/// C's `posix_memalign`: `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn posix_memalign(out: *mut *mut u8, align: usize, n: usize) -> i32 {
    if !align.is_power_of_two() || align % std::mem::size_of::<usize>() != 0 {
        return EINVAL;
    }
    // SAFETY: C's `aligned_alloc`.
    let block = unsafe { aligned_alloc(align, n) };
    if block.is_null() {
        return ENOMEM;
    }
    // SAFETY: the caller's contract.
    unsafe { out.write(block) };
    0
}

/// # Safety
/// C's `malloc_usable_size`: `block` is null or a live block.
#[no_mangle]
pub unsafe extern "C" fn malloc_usable_size(block: *mut u8) -> usize {
    if block.is_null() {
        return 0;
    }
    // SAFETY: the caller's contract.
    unsafe { block_capacity(block) }
}

/// wasi-libc's internal names for the same functions.
///
/// # Safety
/// As `malloc`.
#[no_mangle]
pub unsafe extern "C" fn __libc_malloc(n: usize) -> *mut u8 {
    // SAFETY: as `malloc`.
    unsafe { malloc(n) }
}

/// # Safety
/// As `free`.
#[no_mangle]
pub unsafe extern "C" fn __libc_free(block: *mut u8) {
    // SAFETY: as `free`.
    unsafe { free(block) }
}

/// # Safety
/// As `calloc`.
#[no_mangle]
pub unsafe extern "C" fn __libc_calloc(count: usize, size: usize) -> *mut u8 {
    // SAFETY: as `calloc`.
    unsafe { calloc(count, size) }
}
