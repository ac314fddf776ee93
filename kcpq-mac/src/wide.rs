//! Sixteen HMAC-SHA256 computations at once in AVX-512 registers (multi-buffer SHA-256).
//!
//! Each of SHA-256's eight state words and each message-schedule word is a vector of sixteen
//! 32-bit elements, one per message; a round is the same integer instructions as one scalar
//! round (rotations, three-input logic, additions), applied to all sixteen messages. Where the
//! SHA unit is the bottleneck already for one stream (on Intel's Rocket Lake the four SHA lanes
//! of [`crate::lanes`] hash only 1.2x one stream's bytes per second), this
//! hashes 1.65x their bytes per second once the sixteen lanes are full (measured on Rocket
//! Lake, 1400-byte messages).
//!
//! Messages of unequal lengths share the loop up to the longest one: a lane that has no block
//! left at a step computes on a stand-in block and keeps its state (a masked addition), so a
//! group pays for its longest message sixteen times over. [`crate::tag_all`] weighs that
//! against the SHA lanes before it chooses this path.

use crate::key::{digest_bytes, outer_block};
use crate::message::{Block, PaddedMessage};
use crate::{TAG_LEN, TagJob};

/// Messages per group.
pub(crate) const WIDE: usize = 16;

/// Whether this CPU runs the sixteen lanes (it has AVX-512F and AVX-512BW).
pub(crate) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("sse4.1")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The tags of up to [`WIDE`] jobs into `tags`. Call only where [`available`] is true.
pub(crate) fn tag_wide(jobs: &[TagJob<'_>], tags: &mut [[u8; TAG_LEN]]) {
    debug_assert!(!jobs.is_empty() && jobs.len() <= WIDE && tags.len() >= jobs.len());
    let padded: [PaddedMessage<'_>; WIDE] = std::array::from_fn(|l| {
        // Idle lanes hash the first message again; their results are not read.
        PaddedMessage::new(jobs.get(l).unwrap_or(&jobs[0]).message, 64)
    });
    let blocks: [usize; WIDE] = std::array::from_fn(|l| {
        if l < jobs.len() {
            padded[l].blocks()
        } else {
            0
        }
    });
    let inner: [[u32; 8]; WIDE] =
        std::array::from_fn(|l| jobs.get(l).unwrap_or(&jobs[0]).key.inner);
    let outer: [[u32; 8]; WIDE] =
        std::array::from_fn(|l| jobs.get(l).unwrap_or(&jobs[0]).key.outer);
    let inner = compress(inner, &padded, blocks);
    let outer_blocks: [Block; WIDE] = inner.each_ref().map(outer_block);
    let outer_messages = outer_blocks.each_ref().map(PaddedMessage::from_block);
    let outer = compress(outer, &outer_messages, [1; WIDE]);
    for (tag, state) in tags.iter_mut().zip(&outer).take(jobs.len()) {
        *tag = digest_bytes(state);
    }
}

/// Lane `l`'s state after compressing the first `blocks[l]` blocks of `messages[l]` into
/// `states[l]`.
fn compress(
    states: [[u32; 8]; WIDE],
    messages: &[PaddedMessage<'_>; WIDE],
    blocks: [usize; WIDE],
) -> [[u32; 8]; WIDE] {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `tag_wide` runs only where `available()` found AVX-512F, AVX-512BW and
        // SSE4.1, the target features `avx512::compress` is compiled for.
        #[allow(unsafe_code)]
        unsafe {
            avx512::compress(states, messages, blocks)
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let mut states = states;
        for (l, state) in states.iter_mut().enumerate() {
            for i in 0..blocks[l] {
                sha2::block_api::compress256(state, std::slice::from_ref(messages[l].block(i)));
            }
        }
        states
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::{
        __m512i, _mm_extract_epi32, _mm_set_epi32, _mm512_add_epi32, _mm512_broadcast_i32x4,
        _mm512_extracti32x4_epi32, _mm512_mask_add_epi32, _mm512_ror_epi32, _mm512_set_epi32,
        _mm512_set1_epi32, _mm512_shuffle_epi8, _mm512_shuffle_i32x4, _mm512_srli_epi32,
        _mm512_ternarylogic_epi32, _mm512_unpackhi_epi32, _mm512_unpackhi_epi64,
        _mm512_unpacklo_epi32, _mm512_unpacklo_epi64,
    };

    use super::WIDE;
    use crate::message::{Block, PaddedMessage};
    use crate::sha256::K;

    /// A block no message ends in, for lanes with no block left at a step.
    const STAND_IN: Block = [0; 64];

    /// One element per lane, lane 0 in element 0.
    #[target_feature(enable = "avx512f")]
    fn vector(e: [u32; WIDE]) -> __m512i {
        _mm512_set_epi32(
            e[15] as i32,
            e[14] as i32,
            e[13] as i32,
            e[12] as i32,
            e[11] as i32,
            e[10] as i32,
            e[9] as i32,
            e[8] as i32,
            e[7] as i32,
            e[6] as i32,
            e[5] as i32,
            e[4] as i32,
            e[3] as i32,
            e[2] as i32,
            e[1] as i32,
            e[0] as i32,
        )
    }

    /// The sixteen elements of `v`, element 0 first.
    #[target_feature(enable = "avx512f,sse4.1")]
    fn elements(v: __m512i) -> [u32; WIDE] {
        let quarters = [
            _mm512_extracti32x4_epi32::<0>(v),
            _mm512_extracti32x4_epi32::<1>(v),
            _mm512_extracti32x4_epi32::<2>(v),
            _mm512_extracti32x4_epi32::<3>(v),
        ];
        let mut out = [0u32; WIDE];
        for (chunk, q) in out.chunks_exact_mut(4).zip(quarters) {
            chunk[0] = _mm_extract_epi32::<0>(q) as u32;
            chunk[1] = _mm_extract_epi32::<1>(q) as u32;
            chunk[2] = _mm_extract_epi32::<2>(q) as u32;
            chunk[3] = _mm_extract_epi32::<3>(q) as u32;
        }
        out
    }

    /// A block's sixteen words, big-endian as SHA-256 reads them, word `t` in element `t`.
    #[target_feature(enable = "avx512f,avx512bw")]
    fn block_words(block: &Block) -> __m512i {
        let (words, _) = block.as_chunks::<4>();
        let little = vector(std::array::from_fn(|t| u32::from_le_bytes(words[t])));
        // Reverse the bytes of every word (the same pattern in each 128-bit quarter).
        let swap = _mm512_broadcast_i32x4(_mm_set_epi32(
            0x0c0d_0e0f,
            0x0809_0a0b,
            0x0405_0607,
            0x0001_0203,
        ));
        _mm512_shuffle_epi8(little, swap)
    }

    /// Rows (one lane's words each) turned into columns (one word of every lane each).
    #[target_feature(enable = "avx512f")]
    fn transpose(r: [__m512i; 16]) -> [__m512i; 16] {
        // Within each 128-bit quarter q: u[4g + j] holds word 4q + j of rows 4g..4g + 4.
        let mut u = r;
        for g in 0..4 {
            let (r0, r1, r2, r3) = (r[4 * g], r[4 * g + 1], r[4 * g + 2], r[4 * g + 3]);
            let (lo01, hi01) = (_mm512_unpacklo_epi32(r0, r1), _mm512_unpackhi_epi32(r0, r1));
            let (lo23, hi23) = (_mm512_unpacklo_epi32(r2, r3), _mm512_unpackhi_epi32(r2, r3));
            u[4 * g] = _mm512_unpacklo_epi64(lo01, lo23);
            u[4 * g + 1] = _mm512_unpackhi_epi64(lo01, lo23);
            u[4 * g + 2] = _mm512_unpacklo_epi64(hi01, hi23);
            u[4 * g + 3] = _mm512_unpackhi_epi64(hi01, hi23);
        }
        // Then quarter g of word 4q + j comes from quarter q of u[4g + j].
        let mut w = r;
        for j in 0..4 {
            let (u0, u1, u2, u3) = (u[j], u[4 + j], u[8 + j], u[12 + j]);
            let v0 = _mm512_shuffle_i32x4::<0x44>(u0, u1);
            let v1 = _mm512_shuffle_i32x4::<0xEE>(u0, u1);
            let v2 = _mm512_shuffle_i32x4::<0x44>(u2, u3);
            let v3 = _mm512_shuffle_i32x4::<0xEE>(u2, u3);
            w[j] = _mm512_shuffle_i32x4::<0x88>(v0, v2);
            w[4 + j] = _mm512_shuffle_i32x4::<0xDD>(v0, v2);
            w[8 + j] = _mm512_shuffle_i32x4::<0x88>(v1, v3);
            w[12 + j] = _mm512_shuffle_i32x4::<0xDD>(v1, v3);
        }
        w
    }

    #[target_feature(enable = "avx512f")]
    fn xor3(a: __m512i, b: __m512i, c: __m512i) -> __m512i {
        _mm512_ternarylogic_epi32::<0x96>(a, b, c)
    }

    #[target_feature(enable = "avx512f")]
    fn add(a: __m512i, b: __m512i) -> __m512i {
        _mm512_add_epi32(a, b)
    }

    /// The message-schedule word after `w16..w1` (16 back to 1 back).
    #[target_feature(enable = "avx512f")]
    fn next_word(w16: __m512i, w15: __m512i, w7: __m512i, w2: __m512i) -> __m512i {
        let s0 = xor3(
            _mm512_ror_epi32::<7>(w15),
            _mm512_ror_epi32::<18>(w15),
            _mm512_srli_epi32::<3>(w15),
        );
        let s1 = xor3(
            _mm512_ror_epi32::<17>(w2),
            _mm512_ror_epi32::<19>(w2),
            _mm512_srli_epi32::<10>(w2),
        );
        add(add(w16, s0), add(w7, s1))
    }

    /// Round `$t` on the working variables named in their order for that round: `$d` and
    /// `$h` take the new values, and the next round names them one place on.
    macro_rules! round {
        ($w:ident, $t:expr, $a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident) => {
            let word = if $t < 16 {
                $w[$t % 16]
            } else {
                let next = next_word(
                    $w[$t % 16],
                    $w[($t + 1) % 16],
                    $w[($t + 9) % 16],
                    $w[($t + 14) % 16],
                );
                $w[$t % 16] = next;
                next
            };
            let s1 = xor3(
                _mm512_ror_epi32::<6>($e),
                _mm512_ror_epi32::<11>($e),
                _mm512_ror_epi32::<25>($e),
            );
            let ch = _mm512_ternarylogic_epi32::<0xCA>($e, $f, $g);
            let t1 = add(
                add($h, s1),
                add(ch, add(word, _mm512_set1_epi32(K[$t] as i32))),
            );
            let s0 = xor3(
                _mm512_ror_epi32::<2>($a),
                _mm512_ror_epi32::<13>($a),
                _mm512_ror_epi32::<22>($a),
            );
            let maj = _mm512_ternarylogic_epi32::<0xE8>($a, $b, $c);
            $d = add($d, t1);
            $h = add(t1, add(s0, maj));
        };
    }

    /// Eight rounds from `$t`, after which the variables are back in their places.
    macro_rules! eight_rounds {
        ($w:ident, $t:expr, $a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident) => {
            round!($w, $t, $a, $b, $c, $d, $e, $f, $g, $h);
            round!($w, $t + 1, $h, $a, $b, $c, $d, $e, $f, $g);
            round!($w, $t + 2, $g, $h, $a, $b, $c, $d, $e, $f);
            round!($w, $t + 3, $f, $g, $h, $a, $b, $c, $d, $e);
            round!($w, $t + 4, $e, $f, $g, $h, $a, $b, $c, $d);
            round!($w, $t + 5, $d, $e, $f, $g, $h, $a, $b, $c);
            round!($w, $t + 6, $c, $d, $e, $f, $g, $h, $a, $b);
            round!($w, $t + 7, $b, $c, $d, $e, $f, $g, $h, $a);
        };
    }

    /// The sixteen compressions, all lanes in step; lane `l` stops (keeps its state) after
    /// `blocks[l]` blocks.
    #[target_feature(enable = "avx512f,avx512bw,sse4.1")]
    pub(super) fn compress(
        states: [[u32; 8]; WIDE],
        messages: &[PaddedMessage<'_>; WIDE],
        blocks: [usize; WIDE],
    ) -> [[u32; 8]; WIDE] {
        let mut state = [vector([0; WIDE]); 8];
        for (j, word) in state.iter_mut().enumerate() {
            *word = vector(std::array::from_fn(|l| states[l][j]));
        }
        let steps = blocks.iter().copied().max().unwrap_or(0);
        for step in 0..steps {
            let mut rows = [vector([0; WIDE]); 16];
            let mut active = 0u16;
            for (l, row) in rows.iter_mut().enumerate() {
                let block = if step < blocks[l] {
                    active |= 1 << l;
                    messages[l].block(step)
                } else {
                    &STAND_IN
                };
                *row = block_words(block);
            }
            let mut w = transpose(rows);
            let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = state;
            eight_rounds!(w, 0, a, b, c, d, e, f, g, h);
            eight_rounds!(w, 8, a, b, c, d, e, f, g, h);
            eight_rounds!(w, 16, a, b, c, d, e, f, g, h);
            eight_rounds!(w, 24, a, b, c, d, e, f, g, h);
            eight_rounds!(w, 32, a, b, c, d, e, f, g, h);
            eight_rounds!(w, 40, a, b, c, d, e, f, g, h);
            eight_rounds!(w, 48, a, b, c, d, e, f, g, h);
            eight_rounds!(w, 56, a, b, c, d, e, f, g, h);
            let working = [a, b, c, d, e, f, g, h];
            for (s, v) in state.iter_mut().zip(working) {
                *s = _mm512_mask_add_epi32(*s, active, *s, v);
            }
        }
        let mut words = [[0u32; WIDE]; 8];
        for (out, v) in words.iter_mut().zip(state) {
            *out = elements(v);
        }
        std::array::from_fn(|l| std::array::from_fn(|j| words[j][l]))
    }
}
