//! The mock homeserver of the client tests: the client vectors' (`appservice-client-vectors`),
//! the shared fake homeserver answering from a script.

pub(crate) use appservice_client_vectors::mock::{AS_TOKEN, MockHomeserver, Scripted, Sleeps};
