//! The third-party network endpoints (`GET /_matrix/app/v1/thirdparty/…`), re-exported from
//! ruma, which models them: protocol metadata, user and location lookups by fields, and the
//! reverse lookups by Matrix user ID and room alias.
//!
//! | endpoint | module |
//! |---|---|
//! | `GET …/thirdparty/protocol/{protocol}` | [`get_protocol`] |
//! | `GET …/thirdparty/user/{protocol}?field=…` | [`get_user_for_protocol`] |
//! | `GET …/thirdparty/location/{protocol}?field=…` | [`get_location_for_protocol`] |
//! | `GET …/thirdparty/user?userid=…` | [`get_user_for_user_id`] |
//! | `GET …/thirdparty/location?alias=…` | [`get_location_for_room_alias`] |
//!
//! The `fields` of a lookup arrive as one query parameter each ([AS-3P-9](https://spec.matrix.org/v1.19/application-service-api/#third-party-networks)). "Nothing found" is
//! a 404 ([AS-3P-10](https://spec.matrix.org/v1.19/application-service-api/#third-party-networks)).

pub use ruma_appservice_api::thirdparty::{
    get_location_for_protocol, get_location_for_room_alias, get_protocol, get_user_for_protocol,
    get_user_for_user_id,
};
pub use ruma_common::thirdparty::{FieldType, Location, Protocol, ProtocolInstance, User};
