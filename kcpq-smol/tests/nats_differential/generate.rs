//! Draws a scenario from a seed.
//!
//! Subjects live under the seed's own first token (`d<seed>` for traffic, `r<seed>` for reply
//! subjects, `z<seed>` for probes), so scenarios never see each other's messages. The mix:
//! 2-4 clients (some no_echo), plain and queue subscriptions over a three-token alphabet with
//! `*` and `>`, a queue group name shared by members with different, overlapping filters,
//! responders (plain and in a group), auto-unsubscribe at the start and later, unsubscribes,
//! publishes with and without reply subjects and headers, requests with and without
//! responders, and probes of invalid subjects, filters and group names.
//!
//! The drawn scenario is then made comparable (`comparable`): group limits that would let the
//! brokers' choice of member show, and how long each request waits.

use super::comparable::{ANSWER_EXPECTED, keep_groups_deterministic, set_request_timeouts};
use super::rng::Rng;
use super::scenario::{Action, ClientSpec, Probe, PublishSpec, Scenario, SubSpec};

/// Silent queue groups, and the group whose members answer requests.
const SILENT_GROUPS: [&str; 2] = ["g1", "g2"];
const RESPONDING_GROUP: &str = "w";

struct Draw {
    rng: Rng,
    seed: u64,
    scenario: Scenario,
    /// Subscriptions made and not yet unsubscribed, in generation order.
    live: Vec<usize>,
    next_payload: u64,
}

/// The scenario of `seed`.
pub(crate) fn scenario(seed: u64) -> Scenario {
    let mut rng = Rng::new(seed);
    let clients = (0..rng.range(2, 4))
        .map(|_| ClientSpec {
            no_echo: rng.chance(25),
        })
        .collect();
    let mut draw = Draw {
        rng,
        seed,
        scenario: Scenario {
            seed,
            clients,
            subs: Vec::new(),
            actions: Vec::new(),
        },
        live: Vec::new(),
        next_payload: 0,
    };
    draw.run();
    let mut scenario = draw.scenario;
    keep_groups_deterministic(&mut scenario);
    set_request_timeouts(&mut scenario);
    scenario
}

impl Draw {
    fn run(&mut self) {
        if self.rng.chance(30) {
            self.observer();
        }
        for _ in 0..self.rng.range(2, 5) {
            self.subscribe();
        }
        for _ in 0..self.rng.range(10, 30) {
            match self.rng.range(0, 99) {
                0..=44 => self.publish(),
                45..=59 => self.subscribe(),
                60..=66 => self.unsubscribe(),
                67..=71 => self.unsubscribe_after(),
                72..=87 => self.request(),
                _ => self.probe(),
            }
        }
        for _ in 0..self.rng.range(1, 4) {
            self.publish();
        }
    }

    fn client(&mut self) -> usize {
        self.rng.range(0, self.scenario.clients.len() - 1)
    }

    fn token(&mut self) -> &'static str {
        // A wildcard character inside a longer token is an ordinary character in both.
        match self.rng.range(0, 99) {
            0..=3 => "a*",
            4..=5 => "é",
            _ => ["a", "b", "c"][self.rng.range(0, 2)],
        }
    }

    fn subject(&mut self) -> String {
        let mut subject = format!("d{}", self.seed);
        for _ in 0..self.rng.range(1, 3) {
            subject.push('.');
            subject.push_str(self.token());
        }
        subject
    }

    fn filter(&mut self) -> String {
        let depth = self.rng.range(1, 3);
        let mut filter = format!("d{}", self.seed);
        for i in 0..depth {
            filter.push('.');
            if i + 1 == depth && self.rng.chance(20) {
                filter.push('>');
            } else if self.rng.chance(25) {
                filter.push('*');
            } else {
                filter.push_str(self.token());
            }
        }
        filter
    }

    /// A filter that overlaps `filter`: one token widened to `*`, or the tail to `>`.
    fn overlapping(&mut self, filter: &str) -> String {
        let mut tokens: Vec<&str> = filter.split('.').collect();
        let at = self.rng.range(1, tokens.len() - 1);
        if self.rng.chance(50) {
            tokens[at] = "*";
        } else {
            tokens.truncate(at);
            tokens.push(">");
        }
        tokens.join(".")
    }

    /// A subject `filter` matches.
    fn instance(&mut self, filter: &str) -> String {
        let mut tokens = Vec::new();
        for token in filter.split('.') {
            match token {
                "*" => tokens.push(self.token()),
                ">" => {
                    for _ in 0..self.rng.range(1, 2) {
                        tokens.push(self.token());
                    }
                }
                literal => tokens.push(literal),
            }
        }
        tokens.join(".")
    }

    fn payload(&mut self, kind: char) -> String {
        self.next_payload += 1;
        format!("{kind}{}", self.next_payload)
    }

    fn add_sub(&mut self, spec: SubSpec, max: Option<u64>) {
        let sub = self.scenario.subs.len();
        self.scenario.subs.push(spec);
        self.scenario.actions.push(Action::Subscribe { sub, max });
        self.live.push(sub);
    }

    /// A subscription to every reply subject, where nats-server's no-responders answers to
    /// plain publishes land (see the documented differences).
    fn observer(&mut self) {
        let spec = SubSpec {
            client: self.client(),
            filter: format!("r{}.>", self.seed),
            queue: None,
            responder: false,
        };
        self.add_sub(spec, None);
    }

    fn subscribe(&mut self) {
        let client = self.client();
        let roll = self.rng.range(0, 99);
        let (queue, responder) = match roll {
            0..=44 => (None, false),
            45..=54 => (None, true),
            55..=84 => (Some(*self.rng.pick(&SILENT_GROUPS)), false),
            _ => (Some(RESPONDING_GROUP), true),
        };
        let member = queue.and_then(|group| {
            let subs = &self.scenario.subs;
            subs.iter()
                .find(|s| s.queue.as_deref() == Some(group))
                .map(|s| s.filter.clone())
        });
        let filter = match member {
            Some(existing) if self.rng.chance(60) => self.overlapping(&existing),
            _ => self.filter(),
        };
        let max = (!responder && self.rng.chance(25)).then(|| self.rng.range(1, 3) as u64);
        let spec = SubSpec {
            client,
            filter,
            queue: queue.map(str::to_owned),
            responder,
        };
        self.add_sub(spec, max);
    }

    fn unsubscribe(&mut self) {
        if self.live.is_empty() {
            return;
        }
        let at = self.rng.range(0, self.live.len() - 1);
        let sub = self.live.remove(at);
        self.scenario.actions.push(Action::Unsubscribe { sub });
    }

    /// Only plain, silent subscriptions: in a group, how many messages a member has had
    /// depends on the broker's choice of member.
    fn unsubscribe_after(&mut self) {
        let subs = &self.scenario.subs;
        let candidates: Vec<usize> = (self.live.iter().copied())
            .filter(|&s| subs[s].queue.is_none() && !subs[s].responder)
            .collect();
        if candidates.is_empty() {
            return;
        }
        let sub = *self.rng.pick(&candidates);
        let max = self.rng.range(1, 4) as u64;
        self.scenario
            .actions
            .push(Action::UnsubscribeAfter { sub, max });
    }

    fn publish(&mut self) {
        let client = self.client();
        let subject = self.subject();
        let seed = self.seed;
        let reply = (self.rng.chance(30)).then(|| format!("r{seed}.{}", self.token()));
        let headers = self.rng.chance(25).then(|| {
            (0..self.rng.range(1, 2))
                .map(|_| {
                    let name = *self.rng.pick(&["Hk", "x-id", "A"]);
                    let value = *self.rng.pick(&["1", "v", "x y", "", "a:b"]);
                    (name.to_owned(), value.to_owned())
                })
                .collect()
        });
        let payload = match self.rng.range(0, 99) {
            // Empty: no payload to tell it by (the group check skips it).
            0..=2 => String::new(),
            // Beyond one datagram and nats-server's 64 KiB read buffer.
            3..=4 => format!("{}:{}", self.payload('p'), "x".repeat(100_000)),
            _ => self.payload('p'),
        };
        let publish = PublishSpec {
            subject,
            reply,
            headers,
            payload,
        };
        self.scenario
            .actions
            .push(Action::Publish { client, publish });
    }

    fn request(&mut self) {
        let client = self.client();
        let responders: Vec<String> = (self.live.iter())
            .map(|&s| &self.scenario.subs[s])
            .filter(|s| s.responder)
            .map(|s| s.filter.clone())
            .collect();
        let subject = if !responders.is_empty() && self.rng.chance(75) {
            let filter = self.rng.pick(&responders).clone();
            self.instance(&filter)
        } else {
            self.subject()
        };
        let payload = self.payload('q');
        self.scenario.actions.push(Action::Request {
            client,
            subject,
            payload,
            timeout: ANSWER_EXPECTED,
        });
    }

    fn probe(&mut self) {
        let client = self.client();
        let z = format!("z{}", self.seed);
        let long = "x".repeat(300);
        let many = ".t".repeat(20);
        let subjects = [
            format!("{z}.a"),
            format!("{z}..a"),
            format!(".{z}"),
            format!("{z}."),
            format!("{z}.*"),
            format!("{z}.>"),
            format!("{z}.a.*.b"),
            format!("{z}.a*"),
            format!("{z}.>b"),
            format!("{z}.é"),
            format!("{z}.{long}"),
            format!("{z}{many}"),
        ];
        let probe = match self.rng.range(0, 2) {
            0 => Probe::Publish(self.rng.pick(&subjects).clone()),
            1 => {
                let filters = [format!("{z}.>.a"), format!("{z}.*.>"), format!("{z}.*a")];
                let filter = if self.rng.chance(25) {
                    self.rng.pick(&filters).clone()
                } else {
                    self.rng.pick(&subjects).clone()
                };
                Probe::Subscribe(filter)
            }
            _ => {
                let names = ["q", "q.x", "*", ">", "q*", "é", "q-1_x", ".q", &long];
                let name = *self.rng.pick(&names);
                Probe::Queue(format!("{z}.a"), name.to_owned())
            }
        };
        self.scenario.actions.push(Action::Probe { client, probe });
    }
}
