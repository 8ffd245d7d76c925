//! Ephemeral data in transactions (spec v1.13, MSC2409): typed views, from ruma.
//!
//! The three types that can occur today, each with its top-level fields as the spec requires:
//! `m.typing` and `m.receipt` carry a `room_id` ([AS-EPH-4](https://spec.matrix.org/v1.19/application-service-api/#pushing-events)), `m.presence` a `sender` and no
//! room ([AS-EPH-5](https://spec.matrix.org/v1.19/application-service-api/#pushing-events)). Unknown types are kept as [`EphemeralData`]'s custom variant
//! ([`EphemeralData::data_type`] names them): an appservice should ignore what it does not know.
//! Read them with [`Transaction::ephemeral_data`](crate::transaction::Transaction::ephemeral_data).

pub use ruma_events::{
    presence::{PresenceEvent, PresenceEventContent},
    receipt::{ReceiptEvent, ReceiptEventContent, ReceiptType},
    typing::{TypingEvent, TypingEventContent},
};

pub use crate::transaction::EphemeralData;
