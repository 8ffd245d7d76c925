//! Shows how a homeserver's refusals of identity assertion surface as typed errors.
//!
//! ```text
//! AS_TOKEN=… cargo run -p appservice-client --example identity_check -- HOMESERVER_URL USER_ID
//! ```
//!
//! With the appservice's `as_token` (from the environment, so it never shows in a process
//! list), it makes two calls for `USER_ID`, a user the appservice should not be able to act as:
//!
//! * `register`: `POST /_matrix/client/v3/register` of the user's localpart (Synapse: 400
//!   `M_EXCLUSIVE` outside the appservice's user namespaces);
//! * `whoami`: `GET /_matrix/client/v3/account/whoami?user_id=USER_ID` without automatic
//!   registration (Synapse: 403 `M_FORBIDDEN` "cannot masquerade").
//!
//! Each prints one line, `register: ok` or `register: ClientError::Matrix status=400
//! errcode=M_EXCLUSIVE`, or for any other error its variant and message. `cargo xtask interop`
//! runs it against Synapse and checks the lines.

#![allow(clippy::print_stdout, reason = "the outcome lines are the output")]

use std::process::ExitCode;

use appservice_client::{Client, ClientError, HyperTransport, Secret, ruma_common::OwnedUserId};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [homeserver, user_id] = args.as_slice() else {
        eprintln!("usage: AS_TOKEN=… identity_check HOMESERVER_URL USER_ID");
        return ExitCode::from(2);
    };
    let Ok(as_token) = std::env::var("AS_TOKEN") else {
        eprintln!("AS_TOKEN is not set");
        return ExitCode::from(2);
    };
    let user_id = match OwnedUserId::try_from(user_id.as_str()) {
        Ok(user_id) => user_id,
        Err(e) => {
            eprintln!("USER_ID {user_id:?}: {e}");
            return ExitCode::from(2);
        }
    };
    let transport = match HyperTransport::new() {
        Ok(transport) => transport,
        Err(e) => {
            eprintln!("cannot build the HTTP client: {e}");
            return ExitCode::FAILURE;
        }
    };
    let client = match Client::new(
        homeserver,
        Secret::new(as_token),
        user_id.server_name().to_owned(),
        transport,
    ) {
        Ok(client) => client.with_auto_register(false),
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    println!("register: {}", describe(client.register(user_id.localpart()).await));
    println!("whoami: {}", describe(client.intent(user_id).whoami().await));
    ExitCode::SUCCESS
}

/// One line about the outcome of a call: the typed error's status and errcode.
fn describe<T>(result: Result<T, ClientError>) -> String {
    match result {
        Ok(_) => "ok".to_owned(),
        Err(ClientError::Matrix { status, errcode, .. }) => {
            format!("ClientError::Matrix status={} errcode={errcode}", status.as_u16())
        }
        Err(other) => format!("other error: {other:?}"),
    }
}
