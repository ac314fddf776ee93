//! What every handle of one client knows without asking its driver, the same in every adapter:
//! the session's names, the bounds its calls wait within, what a publish is checked against,
//! the defaults of its subscriptions' queues, and the close-on-drop rule.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::time::Duration;

use super::{DriverThread, REPLY_MARGIN, SubscriptionQueues, checked_headers};
use crate::client::{ClientConfig, PublishError, SubscribeOptions};
use crate::queue::{OverflowPolicy, QueueLimits};
use crate::subject::SubjectLimits;

/// The state a client's handles share with each other and (the payload limit, the driver's
/// thread) with its driver.
#[derive(Debug)]
pub struct ClientShared {
    server: SocketAddr,
    server_name: String,
    client_name: String,
    connect_timeout: Duration,
    operation_timeout: Duration,
    close_linger: Duration,
    slow_callback: Duration,
    subject_limits: SubjectLimits,
    queue_limits: QueueLimits,
    policy: OverflowPolicy,
    max_payload: Arc<AtomicUsize>,
    driver_thread: DriverThread,
}

impl ClientShared {
    /// For a client of `server` with `config`, whose `connect` waits `connect_timeout` (the
    /// handshake's own timeout too: `config` is set so), whose other calls wait
    /// `operation_timeout`, and whose callbacks count as slow above `slow_callback`.
    pub fn new(
        server: SocketAddr,
        config: &mut ClientConfig,
        connect_timeout: Duration,
        operation_timeout: Duration,
        slow_callback: Duration,
    ) -> ClientShared {
        config.handshake.connect_timeout = connect_timeout;
        ClientShared {
            server,
            server_name: String::new(),
            client_name: String::new(),
            connect_timeout,
            operation_timeout,
            close_linger: config.close_linger,
            slow_callback,
            subject_limits: config.subject_limits,
            queue_limits: config.subscription_limits,
            policy: config.subscription_policy,
            max_payload: Arc::new(AtomicUsize::new(crate::server::DEFAULT_MAX_PAYLOAD)),
            driver_thread: DriverThread::default(),
        }
    }

    /// What `connect` got from the driver, or why it got nothing: `Ok` with the session's
    /// names kept, or why `connect` fails (a failed wait: `TimedOut` after the connect timeout,
    /// else the driver ended before an answer).
    pub fn connected(
        &mut self,
        answer: Result<super::ConnectAnswer, super::WaitError>,
    ) -> Result<(), super::ConnectError> {
        use super::{ConnectError, WaitError};
        let (server_name, client_name) = match answer {
            Ok(answer) => answer?,
            Err(WaitError::TimedOut(_)) => Err(ConnectError::TimedOut(self.connect_timeout))?,
            Err(_) => Err(ConnectError::Disconnected(crate::CloseReason::Local))?,
        };
        (self.server_name, self.client_name) = (server_name, client_name);
        Ok(())
    }

    /// The server's payload limit, for the driver to keep current.
    pub fn max_payload_cell(&self) -> Arc<AtomicUsize> {
        Arc::clone(&self.max_payload)
    }

    /// Where the driver runs, for the driver to record.
    pub fn driver_thread(&self) -> DriverThread {
        self.driver_thread.clone()
    }

    /// The server's address.
    pub fn server_addr(&self) -> SocketAddr {
        self.server
    }

    /// The server's name (from its INFO at the first connect).
    pub fn server_name(&self) -> &str {
        &self.server_name
    }

    /// This client's name as the server knows it.
    pub fn client_name(&self) -> &str {
        &self.client_name
    }

    /// The server's payload limit (headers included).
    pub fn max_payload(&self) -> usize {
        self.max_payload.load(Ordering::Relaxed)
    }

    /// The bound of a call without a timeout of its own.
    pub fn operation_timeout(&self) -> Duration {
        self.operation_timeout
    }

    /// The threshold of a slow callback.
    pub fn slow_callback(&self) -> Duration {
        self.slow_callback
    }

    /// How long `connect` waits for the driver: the handshake times out by itself, the margin
    /// covers a silent driver.
    pub fn connect_wait(&self) -> Duration {
        self.connect_timeout + REPLY_MARGIN
    }

    /// How long a drain of `timeout` may take: the core closes at the latest after `timeout`,
    /// then lingers for the CLOSE's ACK; the operation timeout covers a busy driver.
    pub fn drain_wait(&self, timeout: Duration) -> Duration {
        timeout + self.close_linger + self.operation_timeout
    }

    /// A publish's headers block, after the checks the core would make (see
    /// [`checked_headers`]).
    pub fn check(
        &self,
        subject: &str,
        reply: Option<&str>,
        headers: &[(&str, &str)],
        payload_len: usize,
    ) -> Result<Option<Vec<u8>>, PublishError> {
        let limits = &self.subject_limits;
        checked_headers(
            limits,
            self.max_payload(),
            subject,
            reply,
            headers,
            payload_len,
        )
    }

    /// How a subscription with `options` splits between its inbox and the core.
    pub fn queues(&self, options: SubscribeOptions) -> SubscriptionQueues {
        SubscriptionQueues::new(options, self.queue_limits, self.policy)
    }

    /// The last handle is gone: `send` hands the driver a `Dropped` command with the channel
    /// it reports on once the CLOSE was sent (`false`: refused, when the client is closed
    /// already or the queue is full; the driver closes once every handle is gone). Then waits
    /// for that report as long as [`DriverThread::close_send_wait`] says.
    pub fn close_on_drop(&self, send: impl FnOnce(SyncSender<()>) -> bool) {
        let (sent, wait) = sync_channel(1);
        if send(sent)
            && let Some(bound) = self.driver_thread.close_send_wait()
        {
            let _ = wait.recv_timeout(bound);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_takes_the_connect_timeout_and_publishes_are_checked() {
        let mut config = ClientConfig::default();
        let second = Duration::from_secs(1);
        let shared = ClientShared::new(
            "127.0.0.1:9".parse().expect("an address"),
            &mut config,
            3 * second,
            second,
            second,
        );
        assert_eq!(config.handshake.connect_timeout, 3 * second);
        assert_eq!(shared.connect_wait(), 3 * second + REPLY_MARGIN);
        assert!(
            shared
                .check("a.b", None, &[("k", "v")], 1)
                .is_ok_and(|h| h.is_some())
        );
        assert!(shared.check("a..b", None, &[], 1).is_err());
        let too_big = shared.max_payload() + 1;
        assert!(shared.check("a", None, &[], too_big).is_err());
        let mut asked = false;
        shared.close_on_drop(|_| {
            asked = true;
            false
        });
        assert!(asked);
    }

    #[test]
    fn connect_fails_as_its_wait_did_or_keeps_the_names() {
        let mut config = ClientConfig::default();
        let second = Duration::from_secs(1);
        let server = "127.0.0.1:9".parse().expect("an address");
        let mut shared = ClientShared::new(server, &mut config, 3 * second, second, second);
        let timed_out = shared.connected(Err(super::super::WaitError::TimedOut(second)));
        assert!(
            matches!(timed_out, Err(super::super::ConnectError::TimedOut(t)) if t == 3 * second)
        );
        let names = ("server".to_owned(), "client".to_owned());
        assert!(shared.connected(Ok(Ok(names))).is_ok());
        assert_eq!(
            (shared.server_name(), shared.client_name()),
            ("server", "client")
        );
    }
}
