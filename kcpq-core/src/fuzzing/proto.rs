//! Fuzz entry points for the broker frame codec.

use crate::proto::FrameDecoder;

/// Feeds `data` to a [`FrameDecoder`] in pieces whose sizes come from the data itself, and checks
/// that every frame that decodes re-encodes to bytes that decode to the same frame.
///
/// The first byte picks the decoder's limit, the second the piece size.
pub fn proto_decode(data: &[u8]) {
    let [limit, piece, rest @ ..] = data else {
        return;
    };
    let mut decoder = FrameDecoder::new(usize::from(*limit) * 64);
    let piece = usize::from(*piece).max(1);
    let mut reencoded = Vec::new();
    for chunk in rest.chunks(piece) {
        decoder.push(chunk);
        while let Some(result) = decoder.next_frame() {
            let Ok(frame) = result else { continue };
            reencoded.clear();
            frame.encode(&mut reencoded);
            assert_eq!(reencoded.len(), frame.encoded_len());
            let mut again = FrameDecoder::new(usize::MAX);
            again.push(&reencoded);
            let decoded = again.next_frame().expect("a whole frame was pushed");
            assert_eq!(decoded, Ok(frame), "re-encoded frame decodes differently");
        }
        assert!(decoder.buffered() <= decoder.max_body() + 4 + 256 * 1024);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_short_and_garbage_input() {
        proto_decode(&[]);
        proto_decode(&[1]);
        proto_decode(&[0, 0, 255, 255, 255, 255]);
        proto_decode(&[4, 3, 5, 0, 0, 0, 7, 1, 0, 0, 0, 2, 0, 0, 0, 200, 1]);
    }
}
