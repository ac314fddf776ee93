//! Unit tests of [`super::PacketProtection`].

use super::*;
use crate::crypto::wire::{TYPE_RESET, peek_session_id};

const SID: SessionId = SessionId([0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]);

fn pair_with(key: &Key, config: ProtectionConfig) -> (PacketProtection, PacketProtection) {
    let client = PacketProtection::from_handshake(
        Role::Initiator,
        key,
        &[1; 32],
        &[2; 32],
        SID,
        config.clone(),
    );
    let server =
        PacketProtection::from_handshake(Role::Responder, key, &[1; 32], &[2; 32], SID, config);
    (client, server)
}

fn pair() -> (PacketProtection, PacketProtection) {
    pair_with(&Key::from_bytes([42; 32]), ProtectionConfig::default())
}

fn seal(p: &mut PacketProtection, payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; payload.len() + DATA_OVERHEAD];
    buf[DATA_HEADER_LEN..DATA_HEADER_LEN + payload.len()].copy_from_slice(payload);
    let n = p.seal(&mut buf, payload.len()).expect("seal");
    assert_eq!(n, buf.len());
    buf
}

fn open(p: &mut PacketProtection, packet: &[u8]) -> Result<Vec<u8>, OpenDrop> {
    let mut buf = packet.to_vec();
    let opened = p.open(Instant::ZERO, &mut buf)?;
    Ok(buf[opened.payload].to_vec())
}

#[test]
fn round_trip_both_directions() {
    let (mut c, mut s) = pair();
    for i in 0..50u8 {
        let payload: Vec<u8> = (0..u16::from(i) * 29).map(|x| x as u8 ^ i).collect();
        let pkt = seal(&mut c, &payload);
        assert_eq!(pkt[0], TYPE_DATA);
        assert_eq!(peek_session_id(&pkt), Some(SID));
        assert_eq!(
            u64::from_be_bytes(pkt[9..17].try_into().unwrap()),
            u64::from(i)
        );
        if payload.len() > 16 {
            assert_ne!(
                &pkt[DATA_HEADER_LEN..DATA_HEADER_LEN + 16],
                &payload[..16],
                "encrypted"
            );
        }
        assert_eq!(open(&mut s, &pkt).unwrap(), payload);
        let back = seal(&mut s, &payload);
        assert_eq!(open(&mut c, &back).unwrap(), payload);
    }
    assert_eq!(s.stats().opened_packets, 50);
    assert_eq!(c.stats().sealed_packets, 50);
}

#[test]
fn empty_payload_is_valid() {
    let (mut c, mut s) = pair();
    let pkt = seal(&mut c, &[]);
    assert_eq!(pkt.len(), DATA_OVERHEAD);
    assert_eq!(open(&mut s, &pkt).unwrap(), Vec::<u8>::new());
}

#[test]
fn a_direction_cannot_open_its_own_packets() {
    let (mut c, _) = pair();
    let (mut c2, _) = pair();
    let pkt = seal(&mut c, b"reflected");
    assert_eq!(
        open(&mut c2, &pkt),
        Err(OpenDrop::BadTag),
        "c2s keys differ from s2c keys"
    );
}

#[test]
fn every_single_bit_flip_is_rejected() {
    let (mut c, mut s) = pair();
    let payload: Vec<u8> = (0..100u8).collect();
    let pkt = seal(&mut c, &payload);
    for bit in 0..pkt.len() * 8 {
        let mut bad = pkt.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        let before = bad.clone();
        let mut buf = bad;
        let res = s.open(Instant::ZERO, &mut buf);
        assert!(res.is_err(), "bit {bit} accepted");
        assert_eq!(
            buf, before,
            "bit {bit}: nothing may be decrypted before the tag verifies"
        );
    }
    // The genuine packet still opens: failed attempts did not move the replay window.
    assert_eq!(open(&mut s, &pkt).unwrap(), payload);
    let st = s.stats();
    assert_eq!(st.opened_packets, 1);
    assert_eq!(
        st.dropped_bad_tag + st.dropped_not_data + st.dropped_wrong_session + st.dropped_too_old,
        (pkt.len() * 8) as u64
    );
}

#[test]
fn truncated_and_foreign_packets_are_dropped() {
    let (mut c, mut s) = pair();
    let pkt = seal(&mut c, b"hello");
    for len in 0..pkt.len() {
        assert!(open(&mut s, &pkt[..len]).is_err());
    }
    let mut reset_like = pkt.clone();
    reset_like[0] = TYPE_RESET;
    assert_eq!(open(&mut s, &reset_like), Err(OpenDrop::NotData));
    let mut other = pkt.clone();
    other[1] ^= 0xff;
    assert_eq!(open(&mut s, &other), Err(OpenDrop::WrongSession));
    let mut extended = pkt.clone();
    extended.push(0);
    assert_eq!(open(&mut s, &extended), Err(OpenDrop::BadTag));
}

#[test]
fn replay_reorder_and_too_old() {
    let (mut c, mut s) = pair();
    let pkts: Vec<Vec<u8>> = (0..3000u32)
        .map(|i| seal(&mut c, &i.to_be_bytes()))
        .collect();
    assert!(open(&mut s, &pkts[10]).is_ok());
    assert_eq!(open(&mut s, &pkts[10]), Err(OpenDrop::Duplicate));
    assert!(
        open(&mut s, &pkts[5]).is_ok(),
        "reordered within the window"
    );
    assert_eq!(open(&mut s, &pkts[5]), Err(OpenDrop::Duplicate));
    let mut buf = pkts[2999].clone();
    let opened = s.open(Instant::ZERO, &mut buf).unwrap();
    assert!(opened.is_highest);
    assert_eq!(opened.packet_number, 2999);
    let mut buf = pkts[2000].clone();
    assert!(!s.open(Instant::ZERO, &mut buf).unwrap().is_highest);
    assert_eq!(open(&mut s, &pkts[1000]), Err(OpenDrop::TooOld));
    assert_eq!(open(&mut s, &pkts[11]), Err(OpenDrop::TooOld));
    assert_eq!(s.stats().dropped_duplicate, 2);
    assert_eq!(s.stats().dropped_too_old, 2);
}

#[test]
fn wrong_key_in_either_direction() {
    let (mut c, mut s) = pair();
    let (mut c_bad, mut s_bad) = pair_with(&Key::from_bytes([43; 32]), ProtectionConfig::default());
    assert_eq!(open(&mut s, &seal(&mut c_bad, b"x")), Err(OpenDrop::BadTag));
    assert_eq!(open(&mut c, &seal(&mut s_bad, b"x")), Err(OpenDrop::BadTag));
    // Same key, different randoms: a different session's keys.
    let key = Key::from_bytes([42; 32]);
    let mut other = PacketProtection::from_handshake(
        Role::Initiator,
        &key,
        &[9; 32],
        &[2; 32],
        SID,
        ProtectionConfig::default(),
    );
    assert_eq!(open(&mut s, &seal(&mut other, b"x")), Err(OpenDrop::BadTag));
}

#[test]
fn keystream_blocks_never_overlap_between_packets() {
    // Encrypting zeros exposes the keystream: two consecutive 64-byte packets must share no block.
    let (mut c, _) = pair();
    let a = seal(&mut c, &[0u8; 64]);
    let b = seal(&mut c, &[0u8; 64]);
    let blocks = |p: &[u8]| -> Vec<Vec<u8>> {
        p[DATA_HEADER_LEN..DATA_HEADER_LEN + 64]
            .chunks(16)
            .map(<[u8]>::to_vec)
            .collect()
    };
    for x in blocks(&a) {
        assert!(!blocks(&b).contains(&x));
    }
}

#[test]
fn ciphertext_matches_an_independent_ctr_computation() {
    // Recompute packet 0's keystream with the plain 128-bit-counter `ctr` API: for a payload far
    // below 2^32 blocks the 32-bit counter never carries, so both must agree.
    use ctr::cipher::{KeyIvInit, StreamCipher};
    let key = Key::from_bytes([42; 32]);
    let psk = PskSecrets::new(&key);
    let (c2s, _) = psk.session_secrets(&[1; 32], &[2; 32], SID);
    let mut enc = [0u8; 32];
    crate::crypto::schedule::expand_for_test(&c2s, b"kcpq v1 enc", &mut enc);
    let mut iv = [0u8; 16];
    crate::crypto::schedule::expand_for_test(&c2s, b"kcpq v1 iv", &mut iv[..4]);
    let mut expected = vec![0u8; 100];
    ctr::Ctr128BE::<aes::Aes256>::new(&enc.into(), &iv.into()).apply_keystream(&mut expected);
    let (mut c, _) = pair();
    let pkt = seal(&mut c, &[0u8; 100]);
    assert_eq!(&pkt[DATA_HEADER_LEN..DATA_HEADER_LEN + 100], &expected[..]);
}

#[test]
fn rekey_by_packet_count_and_old_keys_expire() {
    let config = ProtectionConfig {
        rekey_after_packets: 10,
        old_keys_lifetime: Duration::from_millis(300),
        ..ProtectionConfig::default()
    };
    let (mut c, mut s) = pair_with(&Key::from_bytes([42; 32]), config);
    let pkts: Vec<Vec<u8>> = (0..MIN_REKEY_PACKETS + 5)
        .map(|i| seal(&mut c, &i.to_be_bytes()))
        .collect();
    assert_eq!(
        c.stats().rekeys_sent,
        1,
        "the interval was raised to MIN_REKEY_PACKETS"
    );
    let first_new = MIN_REKEY_PACKETS as usize;
    assert_eq!(pkts[first_new - 1][0], TYPE_DATA);
    assert_eq!(pkts[first_new][0], TYPE_DATA | KEY_PHASE_BIT);
    // Receive the new phase first, then an old-phase packet that was delayed.
    let t0 = Instant::from_millis(1000);
    let mut buf = pkts[first_new + 1].clone();
    assert!(s.open(t0, &mut buf).is_ok());
    assert_eq!(s.stats().rekeys_received, 1);
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_millis(300)));
    let mut buf = pkts[first_new - 2].clone();
    assert!(
        s.open(t0 + Duration::from_millis(100), &mut buf).is_ok(),
        "old keys within one RTO"
    );
    let mut buf = pkts[first_new].clone();
    assert!(
        s.open(t0 + Duration::from_millis(100), &mut buf).is_ok(),
        "reordered new-phase packet"
    );
    s.handle_timeout(t0 + Duration::from_millis(300));
    assert_eq!(s.poll_timeout(), None, "old keys wiped");
    let mut buf = pkts[first_new - 3].clone();
    assert_eq!(
        s.open(t0 + Duration::from_millis(301), &mut buf),
        Err(OpenDrop::NoKeys)
    );
    // The following phases keep working, in both bit values.
    let mut now = t0 + Duration::from_secs(1);
    for _ in 0..3 * MIN_REKEY_PACKETS {
        let pkt = seal(&mut c, b"more");
        let mut buf = pkt;
        assert!(s.open(now, &mut buf).is_ok());
        now += Duration::from_micros(10);
    }
    assert_eq!(c.stats().rekeys_sent, 4);
    assert_eq!(s.stats().rekeys_received, 4);
}

#[test]
fn rekey_by_bytes_and_on_demand() {
    let config = ProtectionConfig {
        rekey_after_bytes: 1000,
        ..ProtectionConfig::default()
    };
    let (mut c, mut s) = pair_with(&Key::from_bytes([42; 32]), config);
    for _ in 0..4 {
        let pkt = seal(&mut c, &[0u8; 400]);
        assert!(open(&mut s, &pkt).is_ok());
    }
    assert_eq!(c.stats().rekeys_sent, 1, "after 1200 bytes");
    assert_eq!(c.send_key_phase(), 1);
    s.rekey_now();
    let pkt = seal(&mut s, b"server rekeyed");
    assert_eq!(open(&mut c, &pkt).unwrap(), b"server rekeyed");
    assert_eq!(c.stats().rekeys_received, 1);
}

#[test]
fn forged_phase_flip_does_not_rekey() {
    let (mut c, mut s) = pair();
    let mut pkt = seal(&mut c, b"abc");
    pkt[0] ^= KEY_PHASE_BIT;
    assert_eq!(open(&mut s, &pkt), Err(OpenDrop::BadTag));
    assert_eq!(s.stats().rekeys_received, 0);
    pkt[0] ^= KEY_PHASE_BIT;
    assert!(open(&mut s, &pkt).is_ok());
}

#[test]
fn packet_numbers_never_wrap() {
    let (mut c, mut s) = pair();
    c.send.next_pn = MAX_PACKET_NUMBER;
    let pkt = seal(&mut c, b"last");
    assert_eq!(open(&mut s, &pkt).unwrap(), b"last");
    let mut buf = [0u8; 64];
    assert_eq!(c.seal(&mut buf, 4), Err(SealError::PacketNumbersExhausted));
    assert_eq!(c.seal(&mut buf, 4), Err(SealError::PacketNumbersExhausted));
}

#[test]
fn seal_checks_the_buffer() {
    let (mut c, _) = pair();
    let mut buf = [0u8; 40];
    assert_eq!(
        c.seal(&mut buf, 8),
        Err(SealError::BufferTooSmall {
            needed: 41,
            available: 40
        })
    );
    assert_eq!(c.seal(&mut buf, 7), Ok(40));
    assert!(c.seal(&mut buf, usize::MAX).is_err());
}

#[test]
fn debug_shows_no_key_material() {
    let (c, _) = pair();
    let s = format!("{c:?}");
    assert!(s.contains("SessionId(1122334455667788)"), "{s}");
    assert!(!s.contains("aes"), "{s}");
}

#[test]
fn session_state_stays_small() {
    // Servers hold 10 000+ sessions: only the two current directions are stored inline.
    assert!(
        std::mem::size_of::<PacketProtection>() <= 2 * std::mem::size_of::<DirectionKeys>() + 640
    );
}

/// Packets of two sessions sealed untagged and tagged together carry the same bytes as packets
/// sealed one by one, and open on the other side.
#[test]
fn packets_tagged_together_equal_packets_sealed_alone() {
    let (mut a, mut a_peer) = pair();
    let (mut b, mut b_peer) = pair_with(&Key::from_bytes([7; 32]), ProtectionConfig::default());
    let (mut a_alone, _) = pair();
    let (mut b_alone, _) = pair_with(&Key::from_bytes([7; 32]), ProtectionConfig::default());
    for round in 0..3u8 {
        let payloads: Vec<Vec<u8>> = (0..kcpq_mac::BATCH)
            .map(|i| vec![round ^ i as u8; 40 + 80 * i])
            .collect();
        let mut bufs: Vec<Vec<u8>> = payloads
            .iter()
            .map(|p| {
                let mut buf = vec![0u8; 1500];
                buf[DATA_HEADER_LEN..DATA_HEADER_LEN + p.len()].copy_from_slice(p);
                buf
            })
            .collect();
        // Lanes 0 and 2 are session a's, 1 and 3 session b's.
        let packets: Vec<UntaggedPacket> = bufs
            .iter_mut()
            .zip(&payloads)
            .enumerate()
            .map(|(i, (buf, p))| {
                let session = if i % 2 == 0 { &mut a } else { &mut b };
                session.seal_untagged(buf, p.len()).expect("seal")
            })
            .collect();
        let lens: Vec<usize> = packets.iter().map(UntaggedPacket::len).collect();
        let (first, rest) = bufs.split_first_mut().expect("four buffers");
        finish_all(&packets, first, rest);
        for (i, (buf, p)) in bufs.iter().zip(&payloads).enumerate() {
            let (alone, peer) = if i % 2 == 0 {
                (&mut a_alone, &mut a_peer)
            } else {
                (&mut b_alone, &mut b_peer)
            };
            assert_eq!(buf[..lens[i]], seal(alone, p)[..], "round {round} lane {i}");
            assert_eq!(open(peer, &buf[..lens[i]]).unwrap(), *p);
        }
    }
}

/// A precomputed tag is what the open compares against (a wrong one fails the packet), but only
/// when it was computed under the key the open selects: after a key update it is ignored.
#[test]
fn a_precomputed_tag_counts_only_under_the_selected_key() {
    let (mut c, mut s) = pair();
    let pkt = seal(&mut c, b"batched");
    let job = s.tag_job(&pkt).expect("current keys are at hand");
    let right = PrecomputedTag {
        key: job.key.clone(),
        tag: kcpq_mac::HmacKey::tag(job.key, job.message),
    };
    let mut wrong = PrecomputedTag {
        key: job.key.clone(),
        tag: right.tag,
    };
    wrong.tag[0] ^= 1;

    let mut buf = pkt.clone();
    assert_eq!(
        s.open_with(Instant::ZERO, &mut buf, Some(&wrong)),
        Err(OpenDrop::BadTag),
        "the precomputed tag is used"
    );
    let mut buf = pkt.clone();
    let opened = s.open_with(Instant::ZERO, &mut buf, Some(&right)).unwrap();
    assert_eq!(&buf[opened.payload], b"batched");

    // Under another key (here: the other direction's), the tag is computed afresh.
    let other = PrecomputedTag {
        key: c
            .tag_job(&seal(&mut s, b"x"))
            .expect("c's receive keys")
            .key
            .clone(),
        tag: wrong.tag,
    };
    let pkt = seal(&mut c, b"next");
    let mut buf = pkt.clone();
    assert!(s.open_with(Instant::ZERO, &mut buf, Some(&other)).is_ok());
    assert_eq!(
        s.tag_job(&pkt[..DATA_OVERHEAD - 1])
            .map(|j| j.message.len()),
        None
    );
}
