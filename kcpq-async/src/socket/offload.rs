//! The offload path of [`super::UdpIo`]: batched receive with GRO trains split back into
//! datagrams, and GSO trains on send, through `quinn-udp`.

use std::io;
use std::net::SocketAddr;

use kcpq_os::udp::{IoStats, RecvArea, Train};
use quinn_udp::{UdpSockRef, UdpSocketState};

use crate::runtime::{Interest, Socket, write_with};

/// The `quinn-udp` state of one socket and its receive buffers with the datagrams read from
/// the kernel but not yet handed to the caller.
pub(super) struct Offload {
    state: UdpSocketState,
    area: RecvArea,
}

impl std::fmt::Debug for Offload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Offload")
            .field("max_gso_segments", &self.state.max_gso_segments())
            .field("gro_segments", &self.state.gro_segments())
            .field("area", &self.area)
            .finish()
    }
}

impl Offload {
    /// Sets `socket` up for offload (non-blocking, GRO on where available).
    pub(super) fn new(socket: UdpSockRef<'_>) -> io::Result<Offload> {
        let state = UdpSocketState::new(socket)?;
        Ok(Offload {
            state,
            area: RecvArea::default(),
        })
    }

    /// Most datagrams one send call may carry now; `quinn-udp` lowers it to 1 when the device
    /// refuses GSO.
    pub(super) fn max_gso_segments(&self) -> usize {
        self.state.max_gso_segments()
    }

    /// Most datagrams the kernel puts in one receive buffer (1 without GRO).
    #[cfg(test)]
    pub(super) fn gro_segments(&self) -> usize {
        self.state.gro_segments()
    }

    /// Whether datagrams read from the kernel wait to be handed out.
    pub(super) fn has_pending(&self) -> bool {
        self.area.has_pending()
    }

    /// Hands up to `max` datagrams to `handle` in groups ([`RecvArea::recv_batch`]), reading
    /// the kernel without waiting.
    pub(super) fn recv_batch(
        &mut self,
        socket: &impl Socket,
        max: usize,
        stats: &mut IoStats,
        handle: impl FnMut(&mut [(SocketAddr, &mut [u8])]),
    ) -> usize {
        let state = &self.state;
        let recv = |bufs: &mut [io::IoSliceMut<'_>], metas: &mut [quinn_udp::RecvMeta]| {
            socket.try_io(Interest::Read, || {
                state.recv(socket.sock_ref(), bufs, metas)
            })
        };
        self.area.recv_batch(max, stats, recv, handle)
    }

    /// Sends `contents`, the `train.count` datagrams of `train` to `destination`, in one call
    /// (waiting while the socket's buffer is full). When the device refuses GSO, `quinn-udp`
    /// turns it off and the datagrams are sent again one by one.
    pub(super) async fn send_train(
        &self,
        socket: &impl Socket,
        destination: SocketAddr,
        contents: &[u8],
        train: &Train,
        stats: &mut IoStats,
    ) {
        let segment_size = (train.count > 1).then_some(train.segment);
        match self.send(socket, destination, contents, segment_size).await {
            Ok(()) => stats.count_send(train.count),
            Err(e) if train.count > 1 && self.state.max_gso_segments() == 1 => {
                log::debug!("GSO send to {destination} failed ({e}); sending one by one");
                for datagram in contents.chunks(train.segment) {
                    match self.send(socket, destination, datagram, None).await {
                        Ok(()) => stats.count_send(1),
                        Err(e) => {
                            stats.send_failures += 1;
                            log::debug!("UDP send to {destination} failed: {e}");
                        }
                    }
                }
            }
            Err(e) => {
                stats.send_failures += train.count as u64;
                log::debug!("UDP send to {destination} failed: {e}");
            }
        }
    }

    /// One send call, retried when the socket becomes writable again.
    async fn send(
        &self,
        socket: &impl Socket,
        destination: SocketAddr,
        contents: &[u8],
        segment_size: Option<usize>,
    ) -> io::Result<()> {
        let transmit = kcpq_os::udp::transmit(destination, contents, segment_size);
        write_with(socket, || self.state.try_send(socket.sock_ref(), &transmit)).await
    }
}
