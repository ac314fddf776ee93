use hmac::{Hmac, KeyInit, Mac};
use proptest::prelude::*;

use super::*;

fn reference(key: &[u8], message: &[u8]) -> [u8; TAG_LEN] {
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// RFC 4231 test case 2 ("what do ya want for nothing?").
#[test]
fn rfc4231_case_2() {
    let tag = HmacKey::new(b"Jefe").tag(b"what do ya want for nothing?");
    let expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, expected);
}

/// Every length around the padding's edges, single and in lanes, and keys longer than a block.
#[test]
fn every_padding_edge_matches_the_reference() {
    let keys: Vec<Vec<u8>> = vec![vec![7u8; 32], vec![1u8; 64], (0..100).collect()];
    let message: Vec<u8> = (0..300u32).map(|i| (i * 31 + 5) as u8).collect();
    for key in &keys {
        let hk = HmacKey::new(key);
        for len in 0..message.len() {
            assert_eq!(
                hk.tag(&message[..len]),
                reference(key, &message[..len]),
                "len {len}"
            );
        }
    }
}

const ENGINES: [Engine; 3] = [Engine::Single, Engine::ShaLanes, Engine::Wide];

/// Groups of lanes whose lengths differ (the pairs and the single that finish them, the masked
/// AVX-512 lanes) give every message its own tag, on every engine and on the chosen ones.
#[test]
fn lanes_of_unequal_lengths_match_the_reference() {
    let keys: Vec<HmacKey> = (0..40u8).map(|i| HmacKey::new(&[i; 32])).collect();
    let message: Vec<u8> = (0..2000u32).map(|i| (i * 7) as u8).collect();
    let sixteen_full = [1400; 16];
    let seventeen: Vec<usize> = (0..17).map(|i| 1400 - 60 * i).collect();
    let thirty_five: Vec<usize> = (0..35).map(|i| (i * 57) % 1500).collect();
    let length_sets: [&[usize]; 8] = [
        &[1400, 1400, 1400, 1400],
        &[1400, 40, 1400, 1400, 1400, 55, 56, 0, 64],
        &[0, 0, 0, 0, 1, 2],
        &[1999, 63, 64, 65, 120, 119, 1000, 300],
        &[500],
        &sixteen_full,
        &seventeen,
        &thirty_five,
    ];
    // `None`: the engines `tag_all` chooses.
    let engines = [None].into_iter().chain(ENGINES.map(Some));
    for (engine, lengths) in engines.flat_map(|e| length_sets.iter().map(move |l| (e, l))) {
        let jobs: Vec<TagJob<'_>> = lengths
            .iter()
            .enumerate()
            .map(|(i, &len)| TagJob {
                key: &keys[i],
                message: &message[..len],
            })
            .collect();
        let mut tags = vec![[0u8; TAG_LEN]; jobs.len()];
        match engine {
            None => tag_all(&jobs, &mut tags),
            Some(engine) => tag_all_with(engine, &jobs, &mut tags),
        }
        for (i, &len) in lengths.iter().enumerate() {
            assert_eq!(
                tags[i],
                reference(&[i as u8; 32], &message[..len]),
                "{engine:?} {lengths:?} job {i}"
            );
        }
    }
}

#[test]
fn debug_shows_no_key() {
    assert_eq!(format!("{:?}", HmacKey::new(b"secret")), "HmacKey(..)");
}

proptest! {
    /// Any batch of keys and messages: every tag equals the reference implementation's.
    #[test]
    fn tag_all_matches_the_reference(
        jobs in proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 0..80), proptest::collection::vec(any::<u8>(), 0..1500)),
            0..40,
        ),
        engine in proptest::sample::select(ENGINES.to_vec()),
    ) {
        let keys: Vec<HmacKey> = jobs.iter().map(|(k, _)| HmacKey::new(k)).collect();
        let batch: Vec<TagJob<'_>> = jobs
            .iter()
            .zip(&keys)
            .map(|((_, m), key)| TagJob { key, message: m })
            .collect();
        let mut tags = vec![[0u8; TAG_LEN]; batch.len()];
        tag_all(&batch, &mut tags);
        let mut with_engine = vec![[0u8; TAG_LEN]; batch.len()];
        tag_all_with(engine, &batch, &mut with_engine);
        for (i, (k, m)) in jobs.iter().enumerate() {
            prop_assert_eq!(tags[i], reference(k, m));
            prop_assert_eq!(with_engine[i], reference(k, m));
        }
    }
}

#[test]
fn keys_compare_by_their_bytes() {
    assert_eq!(HmacKey::new(b"one"), HmacKey::new(b"one").clone());
    assert_ne!(HmacKey::new(b"one"), HmacKey::new(b"two"));
}

/// Calibration measures what this CPU has and leaves every path's tags unchanged.
#[test]
fn calibration_keeps_the_tags() {
    let calibration = calibrate();
    assert!(calibration.narrow_block_ps > 0);
    assert_eq!(calibration.wide_step_ps.is_some(), Engine::Wide.available());
    assert!(calibration.full_batch_engine().available());
    let key = HmacKey::new(b"k");
    let message = [3u8; 700];
    let jobs = [TagJob {
        key: &key,
        message: &message,
    }; 20];
    let mut tags = [[0u8; TAG_LEN]; 20];
    tag_all(&jobs, &mut tags);
    assert!(tags.iter().all(|t| *t == reference(b"k", &message)));
}

/// The block count `tag_all` weighs engines by is the padded message's.
#[test]
fn block_count_without_building_matches_the_padded_message() {
    let message = [1u8; 300];
    for len in 0..message.len() {
        assert_eq!(
            message::PaddedMessage::blocks_for(len),
            message::PaddedMessage::new(&message[..len], 64).blocks(),
            "len {len}"
        );
    }
}
