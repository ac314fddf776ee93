//! An HMAC inner message as a sequence of SHA-256 blocks: the message's whole blocks in place,
//! then its last bytes with the padding, in a small buffer of their own.

/// The SHA-256 block.
pub(crate) type Block = [u8; 64];

/// The blocks SHA-256 compresses for `message`, when `prefix_len` bytes (the HMAC key block)
/// were already compressed before it.
pub(crate) struct PaddedMessage<'a> {
    whole: &'a [u8],
    tail: [u8; 128],
    tail_blocks: usize,
}

impl<'a> PaddedMessage<'a> {
    pub(crate) fn new(message: &'a [u8], prefix_len: usize) -> Self {
        let whole_len = message.len() - message.len() % 64;
        let (whole, rest) = message.split_at(whole_len);
        let mut tail = [0u8; 128];
        tail[..rest.len()].copy_from_slice(rest);
        tail[rest.len()] = 0x80;
        let tail_blocks = tail_blocks_for(rest.len());
        let bits = ((prefix_len + message.len()) as u64).wrapping_mul(8);
        tail[tail_blocks * 64 - 8..tail_blocks * 64].copy_from_slice(&bits.to_be_bytes());
        PaddedMessage {
            whole,
            tail,
            tail_blocks,
        }
    }

    /// How many blocks a message of `len` bytes and its padding take, without building it.
    pub(crate) fn blocks_for(len: usize) -> usize {
        len / 64 + tail_blocks_for(len % 64)
    }

    /// One block that is already padded (the outer hash's).
    pub(crate) fn from_block(block: &'a Block) -> Self {
        PaddedMessage {
            whole: block,
            tail: [0u8; 128],
            tail_blocks: 0,
        }
    }

    /// The message's whole blocks, in place.
    pub(crate) fn whole_blocks(&self) -> &'a [Block] {
        self.whole.as_chunks::<64>().0
    }

    /// The padded tail's blocks (one or two; none for [`PaddedMessage::from_block`]).
    pub(crate) fn tail_blocks(&self) -> &[Block] {
        &self.tail.as_chunks::<64>().0[..self.tail_blocks]
    }

    /// How many blocks the message and its padding take.
    pub(crate) fn blocks(&self) -> usize {
        self.whole.len() / 64 + self.tail_blocks
    }

    /// Block `i` (< [`PaddedMessage::blocks`]).
    pub(crate) fn block(&self, i: usize) -> &Block {
        let whole = self.whole_blocks();
        whole
            .get(i)
            .unwrap_or_else(|| &self.tail_blocks()[i - whole.len()])
    }
}

/// Blocks of the padded tail after `rest` (< 64) bytes: the length field (8 bytes) must fit
/// after the 0x80 in the last block.
fn tail_blocks_for(rest: usize) -> usize {
    if rest < 56 { 1 } else { 2 }
}
