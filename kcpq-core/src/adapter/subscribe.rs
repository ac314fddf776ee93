//! How a subscription's options split between the adapter's inbox and the core's queue in
//! front of it, and the inbox they make, the same in every adapter.

use std::sync::Arc;

use super::{Channels, Inbox, SubInbox};
use crate::client::SubscribeOptions;
use crate::queue::{OverflowPolicy, QueueLimits};

/// The bound and policy of a subscription's inbox, and the options to give the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionQueues {
    /// The inbox's bound: the subscription's own, else the client's default.
    pub limits: QueueLimits,
    /// The inbox's overflow policy: the subscription's own, else the client's default. The
    /// server applies it too, in its queue in front of this client.
    pub policy: OverflowPolicy,
    /// What the core is asked: the queue group and the policy as given, and a bound at least
    /// as generous as the defaults. The core's queue only holds what one turn of the driver
    /// receives before it moves it into the inbox, so the policy drops in the inbox, where
    /// `Subscription::dropped` counts it.
    pub core: SubscribeOptions,
}

impl SubscriptionQueues {
    /// Splits `options`, with the client's `default_limits` and `default_policy` for what they
    /// leave unset.
    pub fn new(
        options: SubscribeOptions,
        default_limits: QueueLimits,
        default_policy: OverflowPolicy,
    ) -> SubscriptionQueues {
        let limits = options.limits.unwrap_or(default_limits);
        let policy = options.policy.unwrap_or(default_policy);
        let floor = QueueLimits::default();
        let core_limits = QueueLimits {
            max_messages: limits.max_messages.max(floor.max_messages),
            max_bytes: limits.max_bytes.max(floor.max_bytes),
        };
        let core = SubscribeOptions {
            queue_group: options.queue_group,
            limits: Some(core_limits),
            policy: Some(policy),
        };
        SubscriptionQueues {
            limits,
            policy,
            core,
        }
    }

    /// How a subscription of the server's owner with `options` splits: its own bound and
    /// policy, else the defaults (the owner has no client configuration to take them from).
    pub fn owner(options: SubscribeOptions) -> SubscriptionQueues {
        SubscriptionQueues::new(options, QueueLimits::default(), OverflowPolicy::default())
    }

    /// The subscription's inbox in adapter `C`: open, empty, with this bound and policy.
    pub fn inbox<C: Channels>(&self) -> SubInbox<C> {
        Arc::new(Inbox::new(self.limits, self.policy))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inbox_takes_the_bound_and_the_core_at_least_the_defaults() {
        let small = QueueLimits {
            max_messages: 10,
            max_bytes: 1_000,
        };
        let options = SubscribeOptions::queue_group("workers").with_limits(small);
        let split =
            SubscriptionQueues::new(options, QueueLimits::default(), OverflowPolicy::DropOldest);
        assert_eq!(split.limits, small);
        assert_eq!(split.policy, OverflowPolicy::DropOldest);
        assert_eq!(split.core.limits, Some(QueueLimits::default()));
        assert_eq!(split.core.policy, Some(OverflowPolicy::DropOldest));
        assert_eq!(split.core.queue_group.as_deref(), Some("workers"));
        let inbox = split.inbox::<crate::adapter::driver::test_channels::Test>();
        assert!(!inbox.is_closed() && inbox.pending() == 0);
    }

    #[test]
    fn the_owner_takes_the_defaults_where_unset() {
        let owner = SubscriptionQueues::owner(SubscribeOptions::queue_group("workers"));
        assert_eq!(owner.limits, QueueLimits::default());
        assert_eq!(owner.policy, OverflowPolicy::default());
        assert_eq!(owner.core.queue_group.as_deref(), Some("workers"));
    }
}
