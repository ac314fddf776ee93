//! The paths that compute several tags, and which one a group of messages takes.
//!
//! Which path is fastest depends on the CPU's SHA unit. On AMD's Zen 4 the four SHA lanes
//! hashed 3.2 GiB/s (1400-byte messages); on Intel's Rocket Lake, whose SHA unit is busy
//! already with one stream (four streams hash only 1.2x its bytes per second), they hashed
//! 1.9 GiB/s and the sixteen AVX-512 lanes 3.2 GiB/s. [`calibrate`] times both on this machine
//! and keeps their costs; every group of up to sixteen messages then takes the path that costs less for its lengths (the AVX-512 lanes pay
//! for the longest message in every lane). Until [`calibrate`] runs, the SHA lanes are used
//! where the CPU has them, else the AVX-512 lanes for groups that fill them well enough.

use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use std::time::Instant;

use crate::lanes::LANES;
use crate::message::PaddedMessage;
use crate::{HmacKey, TAG_LEN, TagJob, lanes, wide};

/// A way to compute several tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Engine {
    /// One message at a time with the `sha2` crate's compression function: every CPU.
    Single,
    /// Four messages in lockstep on the x86 SHA extensions.
    ShaLanes,
    /// Sixteen messages at once in AVX-512 registers.
    Wide,
}

impl Engine {
    /// Whether this CPU runs it.
    pub fn available(self) -> bool {
        match self {
            Engine::Single => true,
            Engine::ShaLanes => lanes::available(),
            Engine::Wide => wide::available(),
        }
    }

    /// Most messages it computes together.
    pub fn width(self) -> usize {
        match self {
            Engine::Single => 1,
            Engine::ShaLanes => LANES,
            Engine::Wide => wide::WIDE,
        }
    }
}

/// The best of [`Engine::ShaLanes`] and [`Engine::Single`] on this CPU.
pub(crate) fn narrow() -> Engine {
    if lanes::available() {
        Engine::ShaLanes
    } else {
        Engine::Single
    }
}

/// Picoseconds per block per message on the [`narrow`] engine; 0 until [`calibrate`] ran.
static NARROW_BLOCK_PS: AtomicU32 = AtomicU32::new(0);
/// Picoseconds per block step of all sixteen [`Engine::Wide`] lanes; 0 until [`calibrate`].
static WIDE_STEP_PS: AtomicU32 = AtomicU32::new(0);

/// What [`calibrate`] measured on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Calibration {
    /// The engine groups of equal messages take without the AVX-512 lanes.
    pub narrow: Engine,
    /// Its cost per 64-byte block of one message, in picoseconds.
    pub narrow_block_ps: u32,
    /// The cost of one block step of the sixteen AVX-512 lanes, in picoseconds (`None` where
    /// the CPU has no AVX-512).
    pub wide_step_ps: Option<u32>,
}

impl Calibration {
    /// The engine a batch of sixteen messages of equal length takes.
    pub fn full_batch_engine(&self) -> Engine {
        match self.wide_step_ps {
            Some(step) if u64::from(step) < 16 * u64::from(self.narrow_block_ps) => Engine::Wide,
            _ => self.narrow,
        }
    }
}

/// Times the engines this CPU has on a batch of sixteen 1 KiB messages (about a millisecond in
/// all) and keeps the costs, so that [`crate::tag_all`] gives each group of messages the
/// cheaper path. Safe to call any number of times, from any thread: the tags are the same
/// whichever path computes them; only the speed changes.
pub fn calibrate() -> Calibration {
    let key = HmacKey::new(b"calibration");
    let message = [0x5au8; 1024];
    let jobs = [TagJob {
        key: &key,
        message: &message,
    }; 16];
    // Per message: 16 whole blocks and the padding's block, then the outer block.
    let blocks_per_message = (PaddedMessage::new(&message, 64).blocks() + 1) as u64;
    let mut tags = [[0u8; TAG_LEN]; 16];
    let narrow = narrow();
    let mut best_narrow = u64::MAX;
    let mut best_wide = u64::MAX;
    for _ in 0..24 {
        best_narrow = best_narrow.min(time_ps(|| tag_all_with(narrow, &jobs, &mut tags)));
        if wide::available() {
            best_wide = best_wide.min(time_ps(|| tag_all_with(Engine::Wide, &jobs, &mut tags)));
        }
    }
    let narrow_block_ps = clamp(best_narrow / (16 * blocks_per_message));
    NARROW_BLOCK_PS.store(narrow_block_ps, Ordering::Relaxed);
    let wide_step_ps = wide::available().then(|| clamp(best_wide / blocks_per_message));
    WIDE_STEP_PS.store(wide_step_ps.unwrap_or(0), Ordering::Relaxed);
    Calibration {
        narrow,
        narrow_block_ps,
        wide_step_ps,
    }
}

fn clamp(ps: u64) -> u32 {
    u32::try_from(ps.max(1)).unwrap_or(u32::MAX)
}

fn time_ps(mut f: impl FnMut()) -> u64 {
    let start = Instant::now();
    f();
    u64::try_from(start.elapsed().as_nanos().saturating_mul(1000)).unwrap_or(u64::MAX)
}

/// The engine [`force_engine`] set: 0 for none, else 1 + its place in [`ENGINES`].
static FORCED: AtomicU8 = AtomicU8::new(0);
const ENGINES: [Engine; 3] = [Engine::Single, Engine::ShaLanes, Engine::Wide];

/// Makes every group [`crate::tag_all`] computes take `engine` (where the CPU has it, else
/// [`Engine::Single`]) until it is called again with `None`, whatever the calibration says: for
/// tests and benchmarks that compare the engines in whole programs.
pub fn force_engine(engine: Option<Engine>) {
    let code = engine.map_or(0, |e| {
        1 + ENGINES
            .iter()
            .position(|&x| x == e)
            .expect("every engine is listed") as u8
    });
    FORCED.store(code, Ordering::Relaxed);
}

/// The engine for a group of `count` messages (at most sixteen) of `total_blocks` blocks in
/// all, the longest `longest_blocks`.
pub(crate) fn choose(count: usize, total_blocks: usize, longest_blocks: usize) -> Engine {
    match FORCED.load(Ordering::Relaxed) {
        0 => {}
        code => {
            let engine = ENGINES[usize::from(code - 1)];
            return if engine.available() {
                engine
            } else {
                Engine::Single
            };
        }
    }
    if !wide::available() || count < 2 {
        return narrow();
    }
    let narrow_ps = NARROW_BLOCK_PS.load(Ordering::Relaxed);
    let wide_ps = WIDE_STEP_PS.load(Ordering::Relaxed);
    if narrow_ps == 0 || wide_ps == 0 {
        // Not calibrated: the SHA lanes where the CPU has them, else the AVX-512 lanes where
        // they are worth it, taking a step of sixteen lanes to cost what four blocks of
        // `sha2`'s software rounds do.
        if lanes::available() || (longest_blocks + 1) * 4 >= total_blocks + count {
            return narrow();
        }
        return Engine::Wide;
    }
    // Every message also pays its outer block.
    let narrow_cost = (total_blocks + count) as u64 * u64::from(narrow_ps);
    let wide_cost = (longest_blocks + 1) as u64 * u64::from(wide_ps);
    if wide_cost < narrow_cost {
        Engine::Wide
    } else {
        narrow()
    }
}

/// Computes every tag with `engine` alone ([`Engine::Single`] where the CPU lacks it), whatever
/// the calibration says: for tests and benchmarks that compare the engines.
///
/// # Panics
/// If `tags` is shorter than `jobs` (a caller's bug).
pub fn tag_all_with(engine: Engine, jobs: &[TagJob<'_>], tags: &mut [[u8; TAG_LEN]]) {
    assert!(
        tags.len() >= jobs.len(),
        "tag_all_with: {} tags for {} jobs",
        tags.len(),
        jobs.len()
    );
    let engine = if engine.available() {
        engine
    } else {
        Engine::Single
    };
    for (jobs, tags) in jobs
        .chunks(engine.width())
        .zip(tags.chunks_mut(engine.width()))
    {
        run(engine, jobs, tags);
    }
}

/// The tags of at most `engine.width()` jobs; `engine` must be available.
pub(crate) fn run(engine: Engine, jobs: &[TagJob<'_>], tags: &mut [[u8; TAG_LEN]]) {
    match engine {
        Engine::Wide => wide::tag_wide(jobs, tags),
        Engine::ShaLanes if jobs.len() == LANES => {
            let group: [TagJob<'_>; LANES] = std::array::from_fn(|i| jobs[i]);
            tags[..LANES].copy_from_slice(&lanes::tag_lanes(group));
        }
        Engine::ShaLanes | Engine::Single => {
            for (job, tag) in jobs.iter().zip(tags) {
                *tag = job.key.tag(job.message);
            }
        }
    }
}
