//! The Kafka side: a producer for the `kcpq -> kafka` routes ([`Sink`], fed by [`outbound`])
//! and a consumer group for the `kafka -> kcpq` routes ([`inbound`]), both on librdkafka.

mod context;
pub(crate) mod inbound;
pub(crate) mod outbound;
mod sink;

use rdkafka::config::ClientConfig;

use crate::config::kafka::KafkaConfig;

pub(crate) use sink::Sink;

/// The settings both clients share: servers, client id, then the pass-through properties
/// (checked at load time not to override the bridge's own).
fn base_config(kafka: &KafkaConfig) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &kafka.brokers)
        .set("client.id", &kafka.client_id);
    config
}

/// Applies the pass-through properties last, over the bridge's defaults.
fn with_properties(mut config: ClientConfig, kafka: &KafkaConfig) -> ClientConfig {
    for (name, value) in &kafka.properties {
        config.set(name, value);
    }
    config
}
