//! What a bridge's handler and start-up use: `use appservice::prelude::*;`.

/// The timestamp's integer type (`MilliSecondsSinceUnixEpoch(UInt)`).
pub use appservice_dispatch::js_int::UInt;
pub use appservice_dispatch::{
    Event, EventError, EventHook, EventRouter, Handler, HandlerError, Hooked, TransactionContext,
};
pub use appservice_types::{
    ErrorCode, MatrixError, ValidatedRegistration,
    transaction::{EventEnvelope, RawEvent},
};

#[cfg(feature = "client")]
pub use crate::{Client, Intent};
#[cfg(feature = "client")]
pub use appservice_client::{
    ClientError, SendOptions,
    ruma_common::{
        MilliSecondsSinceUnixEpoch, OwnedEventId, OwnedRoomAliasId, OwnedRoomId, OwnedServerName,
        OwnedUserId, RoomAliasId, RoomId, ServerName, UserId,
    },
    ruma_events::room::message::RoomMessageEventContent,
};

#[cfg(feature = "server")]
pub use crate::{Bridge, Builder, shutdown_signal};
#[cfg(feature = "sql")]
pub use appservice_sql::SqlUnit;
