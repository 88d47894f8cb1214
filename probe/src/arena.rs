//! The probe's global allocator: a bump arena in `.bss` with the system
//! allocator behind it.
//!
//! Why: a health check lives for about a millisecond and makes some 700
//! allocations (227 KB in all, 143 KB live at most). musl's allocator,
//! which the static container build uses, serves them with about 40
//! `mmap` and 25 `munmap` calls, and on the VMs we measured a fresh page
//! mapped, touched and unmapped costs ~8 µs: a sixth of the process's whole
//! CPU time. Here an allocation is one compare-and-swap on a pointer into a
//! zeroed static buffer, so its pages are touched once and never unmapped,
//! and the kernel is not asked for memory at all until the arena is full.
//!
//! Freed memory is reused only when it is the newest block (a stack, which
//! is how `Vec` growth and short-lived temporaries behave); otherwise it
//! stays used until exit. That bounds what the arena costs: at most its
//! size in resident memory, however long `--watch` or `--wait` run, since
//! everything after it is full goes to the system allocator, as do blocks
//! too large or too aligned to be worth arena space.

// The one place in the workspace with `unsafe`: a global allocator cannot
// be written without it. Each block says why it holds.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Blocks larger than this go to the system allocator: one such block
/// would take a large part of the arena for little gain.
const LARGEST_BLOCK: usize = 64 * 1024;

/// The arena's backing store; page-aligned so every alignment up to a page
/// is a matter of offsets.
#[repr(C, align(4096))]
struct Buffer<const N: usize>(UnsafeCell<[u8; N]>);

/// A bump allocator over `N` bytes of static memory that falls back to
/// [`System`]. Use it as `#[global_allocator] static A: Arena<{ 512 * 1024 }>
/// = Arena::new();`.
pub struct Arena<const N: usize> {
    buffer: Buffer<N>,
    /// Offset of the first free byte.
    next: AtomicUsize,
}

// SAFETY: the buffer is only ever handed out in disjoint ranges, reserved
// by atomic read-modify-write operations on `next`; the arena itself never
// reads or writes the bytes, so sharing it between threads is sound.
unsafe impl<const N: usize> Sync for Arena<N> {}

impl<const N: usize> Arena<N> {
    /// An empty arena; `const` so it can be a `static`.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Self {
            buffer: Buffer(UnsafeCell::new([0; N])),
            next: AtomicUsize::new(0),
        }
    }

    fn base(&self) -> *mut u8 {
        self.buffer.0.get().cast()
    }

    /// The offset of `ptr` in the arena, or `None` if the system allocator
    /// made it.
    fn offset_of(&self, ptr: *mut u8) -> Option<usize> {
        let offset = (ptr as usize).wrapping_sub(self.base() as usize);
        (offset < N).then_some(offset)
    }

    /// How many bytes of the arena are in use (for tests and benchmarks).
    pub fn used(&self) -> usize {
        self.next.load(Ordering::Acquire)
    }

    /// Reserves `layout` in the arena, or returns `None` when it does not
    /// fit (or should not take arena space).
    fn bump(&self, layout: Layout) -> Option<*mut u8> {
        if layout.size() > LARGEST_BLOCK || layout.align() > align_of::<Buffer<N>>() {
            return None;
        }
        let mut current = self.next.load(Ordering::Acquire);
        loop {
            // The base is page-aligned and `align` divides a page, so
            // aligning the offset aligns the address.
            let start = current.checked_next_multiple_of(layout.align())?;
            let end = start.checked_add(layout.size()).filter(|&end| end <= N)?;
            // AcqRel: a block given back (see `dealloc`) was last written
            // by whoever freed it; acquiring orders those writes before
            // the new owner's.
            match self
                .next
                .compare_exchange_weak(current, end, Ordering::AcqRel, Ordering::Acquire)
            {
                // SAFETY: `start < end <= N`, inside the buffer.
                Ok(_) => return Some(unsafe { self.base().add(start) }),
                Err(actual) => current = actual,
            }
        }
    }
}

// SAFETY: every block handed out is either a range of the arena reserved
// for it alone by `bump` (sized and aligned as asked, and never handed out
// again while it is live: only the newest block is ever given back, and
// only by its owner) or comes from `System`, and each pointer goes back to
// whichever allocator made it, told apart by its address.
unsafe impl<const N: usize> GlobalAlloc for Arena<N> {
    // Out of line: fat LTO would otherwise inline this into every one
    // of the program's allocation sites (+16 KB of binary, measured).
    #[inline(never)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.bump(layout) {
            Some(ptr) => ptr,
            // SAFETY: the caller's guarantees about `layout` pass through.
            None => unsafe { System.alloc(layout) },
        }
    }

    #[inline(never)]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(offset) = self.offset_of(ptr) else {
            // SAFETY: not in the arena, so `System` made it.
            return unsafe { System.dealloc(ptr, layout) };
        };
        // Give the block back only if it is the newest one; if another
        // thread allocated in between, the exchange fails and it is kept.
        let _ = self.next.compare_exchange(
            offset + layout.size(),
            offset,
            Ordering::Release,
            Ordering::Relaxed,
        );
    }

    #[inline(never)]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Some(offset) = self.offset_of(ptr) else {
            // SAFETY: not in the arena, so `System` made it; the caller's
            // guarantees pass through.
            return unsafe { System.realloc(ptr, layout, new_size) };
        };
        // The newest block grows or shrinks where it is.
        if new_size <= LARGEST_BLOCK
            && new_size <= N - offset
            && self
                .next
                .compare_exchange(
                    offset + layout.size(),
                    offset + new_size,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            return ptr;
        }
        // Any other block shrinks where it is too: its tail stays unused.
        if new_size <= layout.size() {
            return ptr;
        }
        // SAFETY: the caller guarantees `new_size`, rounded up to the
        // alignment, does not overflow `isize`, and the alignment is valid.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: `new_layout` has a non-zero size (it is larger than the
        // old size).
        let new_ptr = unsafe { self.alloc(new_layout) };
        if !new_ptr.is_null() {
            // SAFETY: both blocks are valid for the old size (the smaller)
            // and distinct, so they do not overlap; `ptr` was allocated
            // here with `layout`.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new_ptr, layout.size());
                self.dealloc(ptr, layout);
            }
        }
        new_ptr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).expect("valid layout")
    }

    #[test]
    fn blocks_are_aligned_disjoint_and_inside_the_arena() {
        let arena = Box::new(Arena::<8192>::new());
        let mut blocks = Vec::new();
        for (i, align) in [1, 8, 2, 16, 64, 4, 4096, 1].into_iter().enumerate() {
            let l = layout(13 + i, align);
            let ptr = unsafe { arena.alloc(l) };
            assert_eq!(ptr as usize % align, 0, "alignment {align}");
            assert!(arena.offset_of(ptr).is_some(), "in the arena");
            unsafe { std::ptr::write_bytes(ptr, i as u8, l.size()) };
            blocks.push((ptr, l, i as u8));
        }
        for &(ptr, l, fill) in &blocks {
            let bytes = unsafe { std::slice::from_raw_parts(ptr, l.size()) };
            assert!(
                bytes.iter().all(|&b| b == fill),
                "no block overwrote another"
            );
        }
    }

    #[test]
    fn the_newest_block_is_given_back_and_older_ones_are_kept() {
        let arena = Box::new(Arena::<4096>::new());
        let a = unsafe { arena.alloc(layout(100, 8)) };
        let b = unsafe { arena.alloc(layout(100, 8)) };
        let used = arena.used();
        unsafe { arena.dealloc(a, layout(100, 8)) };
        assert_eq!(arena.used(), used, "an older block stays used");
        unsafe { arena.dealloc(b, layout(100, 8)) };
        assert_eq!(arena.used(), used - 100, "the newest block is reused");
        assert_eq!(unsafe { arena.alloc(layout(100, 8)) }, b);
    }

    #[test]
    fn the_newest_block_grows_in_place_and_others_move_with_their_bytes() {
        let arena = Box::new(Arena::<4096>::new());
        let a = unsafe { arena.alloc(layout(16, 8)) };
        unsafe { std::ptr::write_bytes(a, 7, 16) };
        let grown = unsafe { arena.realloc(a, layout(16, 8), 64) };
        assert_eq!(grown, a, "the newest block grows where it is");
        assert_eq!(arena.used(), 64);

        let b = unsafe { arena.alloc(layout(8, 8)) };
        let moved = unsafe { arena.realloc(a, layout(64, 8), 128) };
        assert_ne!(moved, a, "an older block has to move");
        assert!(moved as usize > b as usize);
        let bytes = unsafe { std::slice::from_raw_parts(moved, 16) };
        assert!(bytes.iter().all(|&x| x == 7), "its bytes moved with it");

        let shrunk = unsafe { arena.realloc(a, layout(64, 8), 8) };
        assert_eq!(shrunk, a, "shrinking never moves");
    }

    #[test]
    fn a_full_arena_and_large_blocks_fall_back_to_the_system() {
        let arena = Box::new(Arena::<4096>::new());
        let big = unsafe { arena.alloc(layout(LARGEST_BLOCK + 1, 8)) };
        assert!(!big.is_null() && arena.offset_of(big).is_none());
        unsafe { arena.dealloc(big, layout(LARGEST_BLOCK + 1, 8)) };

        let fill = unsafe { arena.alloc(layout(4000, 8)) };
        assert!(arena.offset_of(fill).is_some());
        let spill = unsafe { arena.alloc(layout(200, 8)) };
        assert!(
            !spill.is_null() && arena.offset_of(spill).is_none(),
            "spills to the system"
        );
        // A block in the arena that outgrows it moves to the system, bytes and all.
        unsafe { std::ptr::write_bytes(fill, 3, 4000) };
        let moved = unsafe { arena.realloc(fill, layout(4000, 8), 5000) };
        assert!(arena.offset_of(moved).is_none());
        let bytes = unsafe { std::slice::from_raw_parts(moved, 4000) };
        assert!(bytes.iter().all(|&x| x == 3));
        unsafe {
            arena.dealloc(moved, layout(5000, 8));
            arena.dealloc(spill, layout(200, 8));
        }
    }

    #[test]
    fn threads_get_disjoint_blocks() {
        let arena: &'static Arena<{ 256 * 1024 }> = Box::leak(Box::new(Arena::new()));
        let handles: Vec<_> = (0..4u8)
            .map(|t| {
                std::thread::spawn(move || {
                    let mut mine = Vec::new();
                    for i in 0..500 {
                        let l = layout(8 + (i % 5) * 8, 8);
                        let ptr = unsafe { arena.alloc(l) };
                        unsafe { std::ptr::write_bytes(ptr, t, l.size()) };
                        if i % 3 == 0 {
                            unsafe { arena.dealloc(ptr, l) };
                        } else {
                            mine.push((ptr as usize, l));
                        }
                    }
                    for &(ptr, l) in &mine {
                        let bytes =
                            unsafe { std::slice::from_raw_parts(ptr as *const u8, l.size()) };
                        assert!(
                            bytes.iter().all(|&b| b == t),
                            "thread {t}'s block was overwritten"
                        );
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().expect("no thread panicked");
        }
    }
}
