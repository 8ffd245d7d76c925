//! The workloads and their pre-built, realistic request bodies.

use std::fmt::Write as _;

/// A small deterministic PRNG (xorshift64*): the bodies are the same in every run.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (n > 0; the modulo bias is irrelevant here).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const WORDS: &[&str] = &[
    "hello", "bridge", "matrix", "room", "message", "the", "a", "is", "on", "with", "deploy",
    "server", "tomorrow", "meeting", "thanks", "ok", "see", "you", "later", "ping", "update",
    "release", "notes", "ticket", "review", "please", "déjà", "vu", "日本", "🙂",
];

/// One realistic timeline event of 300–600 bytes of JSON: mostly messages, some reactions,
/// memberships (state) and edits; 40 rooms and 300 senders.
pub(crate) fn event(rng: &mut Rng, serial: u64) -> String {
    let room = rng.below(40);
    let sender = rng.below(300);
    let ts = 1_700_000_000_000 + serial * 37;
    let target = rng.below(150) + 300;
    let kind = rng.below(100);
    let mut out = String::with_capacity(640);
    let head = |out: &mut String, ty: &str| {
        let _ = write!(
            out,
            r#"{{"type":"{ty}","event_id":"$ev{serial:012}aBcDeFgHiJkLmNoPqRsT","room_id":"!room{room}:example.org","sender":"@user{sender}:example.org","origin_server_ts":{ts},"#
        );
    };
    if kind < 70 {
        head(&mut out, "m.room.message");
        out.push_str(r#""content":{"msgtype":"m.text","body":""#);
        // Leave room for the tail (under 40 bytes).
        while out.len() + 40 < target as usize {
            out.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
            out.push(' ');
        }
        out.push_str(r#""},"unsigned":{"age":"#);
        let _ = write!(out, "{}}}}}", rng.below(5000));
    } else if kind < 85 {
        head(&mut out, "m.reaction");
        let _ = write!(
            out,
            r#""content":{{"m.relates_to":{{"rel_type":"m.annotation","event_id":"$ev{:012}aBcDeFgHiJkLmNoPqRsT","key":"👍"}}}},"unsigned":{{"age":{},"transaction_id":"m{}.{}"}}}}"#,
            serial.saturating_sub(rng.below(50) + 1),
            rng.below(5000),
            ts,
            rng.below(1000)
        );
    } else if kind < 95 {
        head(&mut out, "m.room.member");
        let _ = write!(
            out,
            r#""state_key":"@user{sender}:example.org","content":{{"membership":"join","displayname":"User number {sender} (bridged)","avatar_url":"mxc://example.org/aBcDeFgHiJkLmNoPqRsTuVwX"}},"unsigned":{{"age":{},"prev_content":{{"membership":"invite"}},"replaces_state":"$prev{serial:012}"}}}}"#,
            rng.below(5000)
        );
    } else {
        head(&mut out, "m.room.message");
        let _ = write!(
            out,
            r#""content":{{"msgtype":"m.text","body":" * edited text","m.new_content":{{"msgtype":"m.text","body":"edited text"}},"m.relates_to":{{"rel_type":"m.replace","event_id":"$ev{:012}aBcDeFgHiJkLmNoPqRsT"}}}},"unsigned":{{"age":{}}}}}"#,
            serial.saturating_sub(rng.below(50) + 1),
            rng.below(5000)
        );
    }
    while out.len() < 300 {
        // Pad short events through an unknown unsigned key, as homeservers add them.
        out.insert_str(out.len() - 2, r#","x":0"#);
    }
    out
}

/// A transaction body: `{"events": [...]}` with `n` events.
pub(crate) fn body(rng: &mut Rng, serial: &mut u64, n: usize) -> bytes::Bytes {
    let mut out = String::from(r#"{"events":["#);
    for i in 0..n {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&event(rng, *serial));
        *serial += 1;
    }
    out.push_str("]}");
    bytes::Bytes::from(out)
}

/// The load-test workloads of the issue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Workload {
    /// Sequential 50-event transactions (one in flight): the homeserver's real pattern.
    A,
    /// 16 concurrent connections, 50-event transactions.
    B,
    /// Sequential 1-event transactions (latency).
    C,
    /// Sequential 50-event transactions, 5 % of them resent with the same transaction ID.
    D,
}

impl Workload {
    pub(crate) const ALL: [Workload; 4] = [Workload::A, Workload::B, Workload::C, Workload::D];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Workload::A => "A",
            Workload::B => "B",
            Workload::C => "C",
            Workload::D => "D",
        }
    }

    pub(crate) fn describe(self) -> &'static str {
        match self {
            Workload::A => "sequential 50-event transactions",
            Workload::B => "16 connections, 50-event transactions",
            Workload::C => "sequential 1-event transactions",
            Workload::D => "sequential 50-event transactions, 5% duplicate IDs",
        }
    }

    pub(crate) fn connections(self) -> usize {
        if self == Workload::B { 16 } else { 1 }
    }

    pub(crate) fn events_per_txn(self) -> usize {
        if self == Workload::C { 1 } else { 50 }
    }
}

/// The requests of one workload: per connection, an ordered list of (transaction key, body
/// index). The key is the transaction ID's suffix; a duplicate reuses an earlier key and body.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) workload: Workload,
    pub(crate) bodies: Vec<bytes::Bytes>,
    /// Per connection: (key, body index).
    pub(crate) requests: Vec<Vec<(usize, usize)>>,
    /// Requests sent (duplicates included).
    pub(crate) sent: u64,
    /// Distinct transactions.
    pub(crate) unique: u64,
    /// Events in distinct transactions.
    pub(crate) unique_events: u64,
}

impl Plan {
    /// `txns` transactions in total (split over the connections for B).
    pub(crate) fn new(workload: Workload, txns: usize) -> Self {
        let mut rng = Rng::new(0x5eed ^ ((workload as u64 + 1) * 0x9e37_79b9));
        let mut serial = 0;
        let per_txn = workload.events_per_txn();
        let bodies: Vec<bytes::Bytes> =
            (0..txns).map(|_| body(&mut rng, &mut serial, per_txn)).collect();
        let conns = workload.connections();
        let mut requests = vec![Vec::new(); conns];
        let mut sent = 0;
        for i in 0..txns {
            requests[i % conns].push((i, i));
            sent += 1;
            // D: after every 19th transaction (past the first few), resend an earlier one:
            // 5 % of the requests are duplicates, of recent and of older transactions.
            if workload == Workload::D && i % 19 == 18 {
                let earlier = i - (rng.below(18.min(i as u64)) as usize);
                requests[0].push((earlier, earlier));
                sent += 1;
            }
        }
        Self {
            workload,
            bodies,
            requests,
            sent,
            unique: txns as u64,
            unique_events: (txns * per_txn) as u64,
        }
    }

    /// Total request body bytes (duplicates included).
    pub(crate) fn bytes(&self) -> u64 {
        self.requests.iter().flatten().map(|&(_, b)| self.bodies[b].len() as u64).sum()
    }
}
