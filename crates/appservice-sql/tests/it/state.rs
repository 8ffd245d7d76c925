//! The state store: what the client records survives a reopen; mappings commit with the
//! transaction's unit or roll back with it; memberships changed by others are tracked.

use std::sync::Arc;

use appservice_client::ruma_common::{owned_room_id, owned_user_id};
use appservice_client::{Profile, StateStore};
use appservice_conformance::handler::{put_txn, registration};
use appservice_dispatch::{
    DispatchConfig, Dispatcher, Event, Handler, HandlerError, Hooked, TransactionContext,
};
use appservice_sql::{SqlUnit, TrackMembership};
use serde_json::json;

use crate::support::{Database, Kind};

#[tokio::test]
async fn registrations_memberships_and_profiles_survive_a_reopen() {
    for kind in [Kind::Sqlite, Kind::Postgres] {
        let db = Database::new(kind).await;
        let store = db.store().await;
        let state = store.state();
        let (alice, room) =
            (owned_user_id!("@_test_alice:example.org"), owned_room_id!("!r:example.org"));
        assert!(!state.is_registered(&alice).await.unwrap());
        state.set_registered(&alice).await.unwrap();
        state.set_registered(&alice).await.unwrap(); // Idempotent.
        state.set_joined(&room, &alice, true).await.unwrap();
        let mut profile = Profile::default();
        profile.displayname = Some("Alice".into());
        state.set_profile(&alice, &profile).await.unwrap();
        store.pool().close().await;

        let state = db.store().await.state();
        assert!(state.is_registered(&alice).await.unwrap(), "{kind:?}");
        assert!(state.is_joined(&room, &alice).await.unwrap());
        assert_eq!(state.profile(&alice).await.unwrap(), profile);
        state.set_joined(&room, &alice, false).await.unwrap();
        assert!(!state.is_joined(&room, &alice).await.unwrap());
    }
}

#[tokio::test]
async fn forgotten_registrations_and_invites_are_kept_in_the_database() {
    for kind in [Kind::Sqlite, Kind::Postgres] {
        let db = Database::new(kind).await;
        let state = db.store().await.state();
        let (alice, bob, room) = (
            owned_user_id!("@_test_alice:example.org"),
            owned_user_id!("@_test_bob:example.org"),
            owned_room_id!("!r:example.org"),
        );
        state.set_registered(&alice).await.unwrap();
        state.forget_registered(&alice).await.unwrap();
        assert!(!state.is_registered(&alice).await.unwrap(), "{kind:?}: forgotten");

        state.set_invited(&room, &alice, true).await.unwrap();
        assert!(state.is_invited(&room, &alice).await.unwrap(), "{kind:?}: invited");
        assert!(!state.is_joined(&room, &alice).await.unwrap());
        state.set_invited(&room, &alice, false).await.unwrap();
        assert!(!state.is_invited(&room, &alice).await.unwrap(), "{kind:?}: invite revoked");
        // An invite never demotes a join, and revoking one leaves a join alone.
        state.set_joined(&room, &bob, true).await.unwrap();
        state.set_invited(&room, &bob, true).await.unwrap();
        state.set_invited(&room, &bob, false).await.unwrap();
        assert!(state.is_joined(&room, &bob).await.unwrap(), "{kind:?}: still joined");
        assert!(!state.is_invited(&room, &bob).await.unwrap());
    }
}

/// Maps each event's ID to its room through the unit; fails on an event whose ID is `$fail`.
struct Mapper;

impl Handler for Mapper {
    async fn event(
        &self,
        txn: &TransactionContext<'_>,
        event: Event<'_>,
    ) -> Result<(), HandlerError> {
        let envelope = event.envelope.ok_or_else(|| HandlerError::failed("no envelope"))?;
        let unit = txn.unit::<SqlUnit>().ok_or_else(|| HandlerError::failed("no unit"))?;
        unit.set("event-room", &envelope.event_id, envelope.room_id.as_ref())
            .await
            .map_err(HandlerError::failed)?;
        if envelope.event_id == "$fail" {
            return Err(HandlerError::failed("scripted"));
        }
        Ok(())
    }
}

fn member(event_id: &str, sender: &str, target: &str, membership: &str) -> serde_json::Value {
    json!({"type": "m.room.member", "event_id": event_id, "room_id": "!r:example.org",
           "sender": sender, "state_key": target, "origin_server_ts": 1,
           "content": {"membership": membership}})
}

fn txn(id: &str, events: Vec<serde_json::Value>) -> http::Request<bytes::Bytes> {
    put_txn(id, serde_json::to_vec(&json!({"events": events})).unwrap())
}

#[tokio::test]
async fn mappings_and_memberships_commit_with_the_transaction_or_not_at_all() {
    for kind in [Kind::Sqlite, Kind::Postgres] {
        let db = Database::new(kind).await;
        let store = db.store().await;
        let state = store.state();
        let (alice, room) =
            (owned_user_id!("@_test_alice:example.org"), owned_room_id!("!r:example.org"));
        state.set_joined(&room, &alice, true).await.unwrap();
        let track = TrackMembership::new(registration("null"), "example.org", state.clone());
        let d = Dispatcher::with_store(
            registration("null"),
            Hooked::new(Mapper, track),
            store.clone(),
            DispatchConfig::default(),
        );
        // A moderator kicks our puppet, then an event fails: nothing of it may stick.
        let kick = member("$kick", "@mod:example.org", "@_test_alice:example.org", "leave");
        let fail = member("$fail", "@mod:example.org", "@bob:example.org", "join");
        assert_eq!(d.dispatch(txn("1", vec![kick.clone(), fail])).await.status(), 500);
        assert!(state.is_joined(&room, &alice).await.unwrap(), "{kind:?}: rolled back");
        assert_eq!(state.get("event-room", "$kick").await.unwrap(), None);

        // The retry without the failing event: the kick and the mapping commit together.
        assert_eq!(d.dispatch(txn("1", vec![kick])).await.status(), 200);
        assert!(!state.is_joined(&room, &alice).await.unwrap(), "{kind:?}: the kick is seen");
        assert_eq!(
            state.get("event-room", "$kick").await.unwrap().as_deref(),
            Some("!r:example.org")
        );
        assert_eq!(state.keys_of("event-room", "!r:example.org").await.unwrap(), ["$kick"]);
        assert!(state.remove("event-room", "$kick").await.unwrap());

        // Someone else's membership is not ours to track; a ban of ours is.
        let other = member("$o", "@mod:example.org", "@carol:example.org", "join");
        let ban = member("$ban", "@mod:example.org", "@_test_alice:example.org", "ban");
        assert_eq!(d.dispatch(txn("2", vec![other, ban])).await.status(), 200);
        assert_eq!(state.membership("!r:example.org", "@carol:example.org").await.unwrap(), None);
        assert_eq!(
            state
                .membership("!r:example.org", "@_test_alice:example.org")
                .await
                .unwrap()
                .as_deref(),
            Some("ban")
        );
    }
}

#[tokio::test]
async fn the_client_uses_the_database_state() {
    let db = Database::new(Kind::Sqlite).await;
    let store = db.store().await;
    let state: Arc<dyn StateStore> = Arc::new(store.state());
    let alice = owned_user_id!("@_test_alice:example.org");
    state.set_registered(&alice).await.unwrap();
    let client = appservice_client::Client::new(
        "http://127.0.0.1:9",
        appservice_client::Secret::new("as_token".to_owned()),
        appservice_client::ruma_common::owned_server_name!("example.org"),
        tower::service_fn(|_: http::Request<bytes::Bytes>| async {
            Err::<http::Response<String>, _>(std::io::Error::other("no homeserver here"))
        }),
    )
    .unwrap()
    .with_state_store(state);
    // Known registered from the database: no request (the transport would fail).
    client.ensure_registered(&alice).await.unwrap();
}

/// As the echo's bot does on an invite: the hook records the invite in the unit, then the
/// handler joins and the client records the join through the state store.
struct JoinOnInvite(appservice_sql::SqlState);

impl Handler for JoinOnInvite {
    async fn event(
        &self,
        _: &TransactionContext<'_>,
        event: Event<'_>,
    ) -> Result<(), HandlerError> {
        let envelope = event.envelope.ok_or_else(|| HandlerError::failed("no envelope"))?;
        let room = appservice_client::ruma_common::RoomId::parse(envelope.room_id.as_ref())
            .map_err(HandlerError::failed)?;
        let user = appservice_client::ruma_common::UserId::parse(
            envelope.state_key.as_deref().unwrap_or_default(),
        )
        .map_err(HandlerError::failed)?;
        let recorded = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            self.0.set_joined(&room, &user, true),
        )
        .await;
        recorded
            .map_err(|_| HandlerError::failed("the state store waited for the unit's lock"))?
            .map_err(HandlerError::Failed)
    }
}

#[tokio::test]
async fn the_client_state_written_while_a_unit_is_open_goes_into_it_instead_of_waiting_for_its_locks()
 {
    for kind in [Kind::Sqlite, Kind::Postgres] {
        let db = Database::new(kind).await;
        let store = db.store().await;
        let state = store.state();
        let track = TrackMembership::new(registration("null"), "example.org", state.clone());
        let d = Dispatcher::with_store(
            registration("null"),
            Hooked::new(JoinOnInvite(state.clone()), track),
            store.clone(),
            DispatchConfig::default(),
        );
        let invite = member("$inv", "@alice:example.org", "@_test_bot:example.org", "invite");
        let started = std::time::Instant::now();
        assert_eq!(d.dispatch(txn("1", vec![invite])).await.status(), 200, "{kind:?}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(3),
            "{kind:?}: {:?}",
            started.elapsed()
        );
        let membership =
            state.membership("!r:example.org", "@_test_bot:example.org").await.unwrap();
        assert_eq!(membership.as_deref(), Some("join"), "{kind:?}");
    }
}
