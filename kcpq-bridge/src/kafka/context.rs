//! The librdkafka callbacks both clients share: librdkafka's errors and log lines go to the
//! bridge's log, the first of an outage as a warning and the rest at debug level, so that a
//! broker that stays down does not flood the log. Nothing here logs a configuration value.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use log::{debug, info, warn};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;

/// The shared part of both clients' contexts.
#[derive(Debug)]
pub(super) struct Health {
    id: Arc<str>,
    role: &'static str,
    failing: AtomicBool,
}

impl Health {
    /// A healthy state for the client `role` (`producer`, `consumer`) of bridge `id`.
    pub(super) fn new(id: Arc<str>, role: &'static str) -> Health {
        Health {
            id,
            role,
            failing: AtomicBool::new(false),
        }
    }

    /// Records that the client works (a delivery or a record arrived); logs a recovery.
    pub(super) fn working(&self) {
        if self.failing.swap(false, Ordering::Relaxed) {
            info!("bridge {}: kafka {} works again", self.id, self.role);
        }
    }

    /// Logs `what`: a warning for the first problem since the client last worked, else debug.
    pub(super) fn problem(&self, what: &str) {
        if self.failing.swap(true, Ordering::Relaxed) {
            debug!("bridge {}: kafka {}: {what}", self.id, self.role);
        } else {
            warn!(
                "bridge {}: kafka {}: {what} (until it works again: debug log only)",
                self.id, self.role
            );
        }
    }
}

/// Implements `ClientContext` for a context with a `health: Health` field.
macro_rules! client_context {
    ($context:ty) => {
        impl rdkafka::ClientContext for $context {
            fn log(&self, level: rdkafka::config::RDKafkaLogLevel, facility: &str, message: &str) {
                self.health.log(level, facility, message);
            }

            fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
                self.health.error(error, reason);
            }
        }
    };
}
pub(super) use client_context;

impl Health {
    /// A log line of librdkafka.
    pub(super) fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        // `[kafka.properties]` goes to both clients, so each warns about the other's
        // properties: not a problem.
        if facility == "CONFWARN" {
            debug!(
                "bridge {}: kafka {}: {facility} {message}",
                self.id, self.role
            );
            return;
        }
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error
            | RDKafkaLogLevel::Warning => self.problem(&format!("{facility} {message}")),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info | RDKafkaLogLevel::Debug => {
                debug!(
                    "bridge {}: kafka {}: {facility} {message}",
                    self.id, self.role
                );
            }
        }
    }

    /// An error librdkafka reports for the whole client (brokers down, authentication).
    pub(super) fn error(&self, error: KafkaError, reason: &str) {
        self.problem(&format!("{error}: {reason}"));
    }
}
