//! A counting allocator for the allocation test and the packet-path benchmark: a wrapper
//! around the system allocator that counts allocations and bytes with atomics. A binary that
//! wants the counts registers it with
//! `#[global_allocator] static ALLOC: CountingAlloc = CountingAlloc;`; including this file
//! does not register it, so other test binaries keep the plain allocator.
//!
//! With `HUIYI_ALLOC_TRACE=1` in the environment, [`measure`] also captures a backtrace for each
//! allocation it counts, and [`top_sources`] groups them by their first frames in Huiyi or
//! str0m code. That is slow, and only for finding where allocations come from.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

pub struct CountingAlloc;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);
/// Set by [`measure`] while backtraces are wanted (`HUIYI_ALLOC_TRACE`).
static TRACING: AtomicBool = AtomicBool::new(false);
/// Backtraces of traced allocations, grouped by their interesting frames.
static TRACES: Mutex<Option<HashMap<String, u64>>> = Mutex::new(None);

thread_local! {
    /// True while this thread records a backtrace, whose own allocations are not traced.
    static IN_TRACE: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: every call is passed on unchanged to `System`; the wrapper only counts.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }

    /// A growing `Vec` reallocates: counted as an allocation too, since it costs one.
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

fn count(size: usize) {
    // A backtrace being recorded allocates too: that is not the measured code's.
    if TRACING.load(Ordering::Relaxed) && IN_TRACE.with(Cell::get) {
        return;
    }
    ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    BYTES.fetch_add(size as u64, Ordering::Relaxed);
    if TRACING.load(Ordering::Relaxed) {
        trace();
    }
}

/// Allocations and bytes allocated so far, by every thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub allocations: u64,
    pub bytes: u64,
}

pub fn counts() -> Counts {
    Counts { allocations: ALLOCATIONS.load(Ordering::Relaxed), bytes: BYTES.load(Ordering::Relaxed) }
}

/// Runs `f` and returns what it allocated (with backtraces recorded when `HUIYI_ALLOC_TRACE`
/// is set). Only meaningful when [`CountingAlloc`] is the global allocator and no other
/// thread allocates meanwhile.
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, Counts) {
    let trace = std::env::var_os("HUIYI_ALLOC_TRACE").is_some();
    let before = counts();
    TRACING.store(trace, Ordering::Relaxed);
    let out = f();
    TRACING.store(false, Ordering::Relaxed);
    let after = counts();
    (out, Counts { allocations: after.allocations - before.allocations, bytes: after.bytes - before.bytes })
}

/// The traced allocation sites so far, most frequent first: each is the first few frames of
/// Huiyi or str0m code (or the first frames at all when there are none), with a count.
pub fn top_sources(n: usize) -> Vec<(String, u64)> {
    let traces = TRACES.lock().expect("no panic while the lock is held").take().unwrap_or_default();
    let mut v: Vec<(String, u64)> = traces.into_iter().collect();
    v.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    v.truncate(n);
    v
}

fn trace() {
    if IN_TRACE.with(|t| t.replace(true)) {
        return;
    }
    let bt = std::backtrace::Backtrace::force_capture().to_string();
    let key = site(&bt);
    let mut traces = TRACES.lock().expect("no panic while the lock is held");
    *traces.get_or_insert_with(HashMap::new).entry(key).or_default() += 1;
    drop(traces);
    IN_TRACE.with(|t| t.set(false));
}

/// The first frames of Huiyi or str0m code in a printed backtrace, as `function (crate file:line)`.
/// Frames print as "N: function", each maybe followed by "at file:line" when there is debug
/// information. Functions inlined from std print without their path ("grow_one<T>") and
/// inlined str0m ones too ("handle_rtp"), so the file tells whose a frame is where it is known.
fn site(backtrace: &str) -> String {
    let mut frames: Vec<(&str, &str)> = Vec::new();
    for line in backtrace.lines().map(str::trim) {
        if let Some(at) = line.strip_prefix("at ") {
            if let Some(last) = frames.last_mut() {
                last.1 = at;
            }
        } else if let Some((n, name)) = line.split_once(": ") {
            if n.chars().all(|c| c.is_ascii_digit()) {
                frames.push((name, ""));
            }
        }
    }
    let ours = |(name, at): &&(&str, &str)| {
        let path = name.split('<').next().unwrap_or(name);
        !name.contains("support::counting") && (path.contains("huiyi") || path.contains("str0m") || at.contains("/str0m") || at.starts_with("./src/"))
    };
    let shown: Vec<String> = frames
        .iter()
        .filter(ours)
        .take(4)
        .map(|(name, at)| {
            let name = name.split('<').next().unwrap_or(name);
            // The crate and the file below it, without the column: `str0m src/session.rs:852`.
            let file = at.rsplit_once(':').map_or(*at, |(f, _)| f);
            let krate = if at.contains("/str0m") { "str0m" } else { "huiyi" };
            match file.rfind("/src/") {
                Some(i) => format!("{name} ({krate} {})", &file[i + 1..]),
                None => name.to_owned(),
            }
        })
        .collect();
    shown.join("\n      <- ")
}
