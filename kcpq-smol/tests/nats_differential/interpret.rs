//! Runs a scenario on one broker side, the same way for both.
//!
//! Ordering, without sleeping: after every action its client passes a barrier (the broker has
//! processed it, so it routed what it publishes before the next action starts), which makes
//! the order in which the broker sees the actions that of the scenario. Before a
//! subscription's messages are read (when it is unsubscribed, or at the end), its client is
//! settled (what was routed to it has arrived), and what has arrived is taken without waiting.
//! Responders answer while a request waits.

use std::future::poll_fn;
use std::task::{Context, Poll, Waker};

use futures_lite::future;
use futures_lite::stream::StreamExt;

use super::scenario::{Action, Scenario};
use super::side::{Answer, Broken, Outcome, Rec, Side};

/// The scenario's subscriptions on one side, and what each has received so far.
struct Subs<S: Side> {
    live: Vec<Option<S::Sub>>,
    /// Streams that have ended (their count was reached).
    ended: Vec<bool>,
    received: Vec<Vec<Rec>>,
}

impl<S: Side> Subs<S> {
    /// Takes what `sub` holds now, without waiting.
    fn take_arrived(&mut self, sub: usize) {
        let Some(stream) = self.live[sub].as_mut() else {
            return;
        };
        let mut cx = Context::from_waker(Waker::noop());
        while let Poll::Ready(next) = stream.poll_next(&mut cx) {
            match next {
                Some(msg) => self.received[sub].push(S::record(&msg)),
                None => {
                    self.ended[sub] = true;
                    break;
                }
            }
        }
    }
}

/// Runs `scenario` on `side`.
pub(crate) async fn run<S: Side>(side: &S, scenario: &Scenario) -> Result<Outcome, Broken> {
    let count = scenario.subs.len();
    let mut subs = Subs::<S> {
        live: (0..count).map(|_| None).collect(),
        ended: vec![false; count],
        received: vec![Vec::new(); count],
    };
    let mut outcome = Outcome::default();
    for (index, action) in scenario.actions.iter().enumerate() {
        let client = scenario.actor(action);
        match action {
            Action::Subscribe { sub, max } => {
                let spec = &scenario.subs[*sub];
                let made = side
                    .subscribe(client, &spec.filter, spec.queue.as_deref())
                    .await?;
                outcome
                    .verdicts
                    .insert(index, made.as_ref().map(|_| ()).map_err(Clone::clone));
                if let Ok(mut stream) = made {
                    if let Some(max) = max {
                        side.unsubscribe_after(&mut stream, *max).await?;
                    }
                    subs.live[*sub] = Some(stream);
                }
            }
            Action::Unsubscribe { sub } => {
                side.settle(client).await?;
                subs.take_arrived(*sub);
                if let Some(stream) = subs.live[*sub].take() {
                    side.unsubscribe(stream).await?;
                }
            }
            Action::UnsubscribeAfter { sub, max } => {
                side.settle(client).await?;
                subs.take_arrived(*sub);
                // Both brokers count from the subscription's start, and end it at once when it
                // already has `max`.
                if let Some(stream) = subs.live[*sub].as_mut()
                    && !subs.ended[*sub]
                {
                    side.unsubscribe_after(stream, *max).await?;
                }
            }
            Action::Publish { publish, .. } => {
                let verdict = side.publish(client, publish).await?;
                outcome.verdicts.insert(index, verdict);
            }
            Action::Request {
                subject,
                payload,
                timeout,
                ..
            } => {
                let asked = async { side.request(client, subject, payload, *timeout).await };
                let answer = future::or(asked, serve(side, scenario, &mut subs)).await?;
                outcome.answers.insert(index, answer);
            }
            Action::Probe { probe, .. } => {
                let verdict = side.probe(client, probe).await?;
                outcome.verdicts.insert(index, verdict);
            }
        }
        side.barrier(client).await?;
    }
    for client in 0..scenario.clients.len() {
        side.settle(client).await?;
    }
    for sub in 0..count {
        subs.take_arrived(sub);
    }
    outcome.received = subs.received;
    Ok(outcome)
}

/// Answers every request that reaches a responder, recording what the responders receive;
/// runs until the request it accompanies ends (it never returns `Ok`).
async fn serve<S: Side>(
    side: &S,
    scenario: &Scenario,
    subs: &mut Subs<S>,
) -> Result<Answer, Broken> {
    loop {
        let (sub, msg) = poll_fn(|cx| {
            for (sub, stream) in subs.live.iter_mut().enumerate() {
                if !scenario.subs[sub].responder {
                    continue;
                }
                if let Some(stream) = stream
                    && let Poll::Ready(Some(msg)) = stream.poll_next(cx)
                {
                    return Poll::Ready((sub, msg));
                }
            }
            Poll::Pending
        })
        .await;
        let record = S::record(&msg);
        let inbox = S::reply_subject(&msg).filter(|reply| reply.starts_with("_INBOX."));
        if let Some(reply) = inbox {
            let answer = format!("re:{}", record.payload);
            side.reply(scenario.subs[sub].client, reply, answer).await?;
        }
        subs.received[sub].push(record);
    }
}
