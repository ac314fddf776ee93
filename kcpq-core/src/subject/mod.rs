//! NATS-style subjects and the subscription index (issue: subjects).
