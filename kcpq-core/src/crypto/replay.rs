//! Anti-replay sliding window over 64-bit packet numbers, in the style of RFC 6479.
//!
//! The window is a ring of [`WORDS`] 64-bit words (2048 bits). The highest packet number seen
//! sits in the top word; moving the window forward clears whole words, so an update costs at most
//! [`WORDS`] word writes no matter how far it jumps. Because the top word is only partly used, the
//! guaranteed window is `(WORDS - 1) * 64` = [`REPLAY_WINDOW`] packets behind the highest: a packet
//! older than that is rejected as too old, one inside it is accepted once.
//!
//! [`ReplayWindow::check`] only reads; [`ReplayWindow::commit`] records a packet number and must be
//! called only after the packet's tag verified, so forged packets cannot move the window.

/// Words in the bitmap ring.
pub const WORDS: usize = 32;
const BITS: u64 = 64;
/// Packets behind the highest one that are still accepted (once each): 1984.
pub const REPLAY_WINDOW: u64 = (WORDS as u64 - 1) * BITS;

/// Why a packet number was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayReject {
    /// Already received.
    Duplicate,
    /// Older than the window.
    TooOld,
}

/// The receive-side replay state of one direction.
#[derive(Debug, Clone)]
pub struct ReplayWindow {
    /// Highest packet number committed (meaningful once `any` is set).
    top: u64,
    any: bool,
    bitmap: [u64; WORDS],
}

impl Default for ReplayWindow {
    fn default() -> Self {
        ReplayWindow {
            top: 0,
            any: false,
            bitmap: [0; WORDS],
        }
    }
}

impl ReplayWindow {
    /// The highest packet number committed so far, if any.
    pub fn highest(&self) -> Option<u64> {
        self.any.then_some(self.top)
    }

    /// Whether `pn` would be accepted now (does not record it).
    pub fn check(&self, pn: u64) -> Result<(), ReplayReject> {
        if !self.any || pn > self.top {
            return Ok(());
        }
        if self.top - pn >= REPLAY_WINDOW {
            return Err(ReplayReject::TooOld);
        }
        let (word, bit) = Self::position(pn);
        if self.bitmap[word] & bit != 0 {
            Err(ReplayReject::Duplicate)
        } else {
            Ok(())
        }
    }

    /// Records `pn` as received. Returns true if it is the new highest. Call only after
    /// [`ReplayWindow::check`] accepted it and the packet authenticated.
    pub fn commit(&mut self, pn: u64) -> bool {
        let new_top = !self.any || pn > self.top;
        if new_top {
            let old_word = if self.any { self.top / BITS } else { pn / BITS };
            let new_word = pn / BITS;
            let advance = new_word - old_word;
            if !self.any || advance >= WORDS as u64 {
                self.bitmap = [0; WORDS];
            } else {
                for w in old_word + 1..=new_word {
                    self.bitmap[(w % WORDS as u64) as usize] = 0;
                }
            }
            self.top = pn;
            self.any = true;
        }
        let (word, bit) = Self::position(pn);
        self.bitmap[word] |= bit;
        new_top
    }

    fn position(pn: u64) -> (usize, u64) {
        (((pn / BITS) % WORDS as u64) as usize, 1u64 << (pn % BITS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(w: &mut ReplayWindow, pn: u64) -> Result<bool, ReplayReject> {
        w.check(pn)?;
        Ok(w.commit(pn))
    }

    #[test]
    fn in_order_duplicates_and_reordering() {
        let mut w = ReplayWindow::default();
        assert_eq!(w.highest(), None);
        assert_eq!(accept(&mut w, 0), Ok(true));
        assert_eq!(accept(&mut w, 0), Err(ReplayReject::Duplicate));
        assert_eq!(accept(&mut w, 5), Ok(true));
        assert_eq!(accept(&mut w, 3), Ok(false), "reordered within the window");
        assert_eq!(accept(&mut w, 3), Err(ReplayReject::Duplicate));
        assert_eq!(accept(&mut w, 4), Ok(false));
        assert_eq!(accept(&mut w, 1), Ok(false));
        assert_eq!(w.highest(), Some(5));
    }

    #[test]
    fn window_edges() {
        let mut w = ReplayWindow::default();
        let top = 10_000;
        assert_eq!(accept(&mut w, top), Ok(true));
        assert_eq!(
            accept(&mut w, top - REPLAY_WINDOW),
            Err(ReplayReject::TooOld)
        );
        assert_eq!(accept(&mut w, top - REPLAY_WINDOW + 1), Ok(false));
        assert_eq!(
            accept(&mut w, top - REPLAY_WINDOW + 1),
            Err(ReplayReject::Duplicate)
        );
        assert!(REPLAY_WINDOW >= 1024);
        // A large jump clears everything; old bits must not alias into new positions.
        let far = top + 64 * WORDS as u64 * 3;
        assert_eq!(accept(&mut w, far), Ok(true));
        assert_eq!(accept(&mut w, far - REPLAY_WINDOW + 1), Ok(false));
        assert_eq!(
            accept(&mut w, far - REPLAY_WINDOW),
            Err(ReplayReject::TooOld)
        );
        assert_eq!(accept(&mut w, top), Err(ReplayReject::TooOld));
    }

    #[test]
    fn matches_a_reference_set_model() {
        use std::collections::BTreeSet;
        let mut rng = crate::rng::Rng::from_seed([5; 32]);
        let mut w = ReplayWindow::default();
        let mut seen = BTreeSet::new();
        let mut top: Option<u64> = None;
        let mut base = 0u64;
        for _ in 0..50_000 {
            base += rng.below(40);
            let pn = (base + rng.below(4000)).saturating_sub(2000);
            let expected = match top {
                Some(t) if pn <= t && t - pn >= REPLAY_WINDOW => Err(ReplayReject::TooOld),
                _ if seen.contains(&pn) => Err(ReplayReject::Duplicate),
                _ => Ok(top.is_none_or(|t| pn > t)),
            };
            assert_eq!(accept(&mut w, pn), expected, "pn {pn} top {top:?}");
            if expected.is_ok() {
                seen.insert(pn);
                top = Some(top.map_or(pn, |t| t.max(pn)));
            }
        }
    }

    #[test]
    fn highest_packet_number_does_not_overflow() {
        let mut w = ReplayWindow::default();
        assert_eq!(accept(&mut w, u64::MAX - 1), Ok(true));
        assert_eq!(accept(&mut w, u64::MAX - 2), Ok(false));
        assert_eq!(accept(&mut w, 0), Err(ReplayReject::TooOld));
    }
}
