//! The state store's statements, each on one connection: a pooled one ([`SqlState`]) or the
//! unit's open transaction ([`SqlUnit`]). Boxed, for the reason given at `store::recorded`.
//!
//! [`SqlState`]: crate::SqlState
//! [`SqlUnit`]: crate::SqlUnit

use appservice_client::Profile;
use appservice_dispatch::BoxFuture;
use sqlx::{AnyConnection, Row};

use crate::{SqlError, SqlErrorKind};

fn failed(what: &'static str) -> impl Fn(sqlx::Error) -> SqlError {
    move |e| SqlError::sqlx(SqlErrorKind::Query, what, e)
}

pub(crate) fn is_registered<'a>(
    conn: &'a mut AnyConnection,
    user_id: &'a str,
) -> BoxFuture<'a, Result<bool, SqlError>> {
    Box::pin(async move {
        let row = sqlx::query("SELECT 1 FROM appservice_users WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(conn)
            .await
            .map_err(failed("reading a registration"))?;
        Ok(row.is_some())
    })
}

pub(crate) fn set_registered<'a>(
    conn: &'a mut AnyConnection,
    user_id: &'a str,
    now_ms: i64,
) -> BoxFuture<'a, Result<(), SqlError>> {
    Box::pin(async move {
        sqlx::query(
            "INSERT INTO appservice_users (user_id, registered_at) VALUES ($1, $2) \
             ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(user_id)
        .bind(now_ms)
        .execute(conn)
        .await
        .map_err(failed("recording a registration"))?;
        Ok(())
    })
}

pub(crate) fn forget_registered<'a>(
    conn: &'a mut AnyConnection,
    user_id: &'a str,
) -> BoxFuture<'a, Result<(), SqlError>> {
    Box::pin(async move {
        sqlx::query("DELETE FROM appservice_users WHERE user_id = $1")
            .bind(user_id)
            .execute(conn)
            .await
            .map_err(failed("forgetting a registration"))?;
        Ok(())
    })
}

/// Records an invite (never over a join), or revokes one (only an invite becomes a leave).
pub(crate) fn set_invited<'a>(
    conn: &'a mut AnyConnection,
    room_id: &'a str,
    user_id: &'a str,
    invited: bool,
) -> BoxFuture<'a, Result<(), SqlError>> {
    Box::pin(async move {
        let statement = if invited {
            "INSERT INTO appservice_memberships (room_id, user_id, membership) \
             VALUES ($1, $2, 'invite') ON CONFLICT (room_id, user_id) \
             DO UPDATE SET membership = 'invite' WHERE appservice_memberships.membership <> 'join'"
        } else {
            "UPDATE appservice_memberships SET membership = 'leave' \
             WHERE room_id = $1 AND user_id = $2 AND membership = 'invite'"
        };
        sqlx::query(statement)
            .bind(room_id)
            .bind(user_id)
            .execute(conn)
            .await
            .map_err(failed("recording an invite"))?;
        Ok(())
    })
}

pub(crate) fn membership<'a>(
    conn: &'a mut AnyConnection,
    room_id: &'a str,
    user_id: &'a str,
) -> BoxFuture<'a, Result<Option<String>, SqlError>> {
    Box::pin(async move {
        let row = sqlx::query(
            "SELECT membership FROM appservice_memberships WHERE room_id = $1 AND user_id = $2",
        )
        .bind(room_id)
        .bind(user_id)
        .fetch_optional(conn)
        .await
        .map_err(failed("reading a membership"))?;
        row.map(|r| r.try_get::<String, _>(0)).transpose().map_err(failed("reading a membership"))
    })
}

pub(crate) fn set_membership<'a>(
    conn: &'a mut AnyConnection,
    room_id: &'a str,
    user_id: &'a str,
    membership: &'a str,
) -> BoxFuture<'a, Result<(), SqlError>> {
    Box::pin(async move {
        sqlx::query(
            "INSERT INTO appservice_memberships (room_id, user_id, membership) VALUES ($1, $2, $3) \
             ON CONFLICT (room_id, user_id) DO UPDATE SET membership = excluded.membership",
        )
        .bind(room_id)
        .bind(user_id)
        .bind(membership)
        .execute(conn)
        .await
        .map_err(failed("recording a membership"))?;
        Ok(())
    })
}

pub(crate) fn profile<'a>(
    conn: &'a mut AnyConnection,
    user_id: &'a str,
) -> BoxFuture<'a, Result<Profile, SqlError>> {
    Box::pin(async move {
        let row = sqlx::query(
            "SELECT displayname, avatar_url FROM appservice_profiles WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(conn)
        .await
        .map_err(failed("reading a profile"))?;
        let mut profile = Profile::default();
        if let Some(row) = row {
            let read = failed("reading a profile");
            profile.displayname = row.try_get(0).map_err(&read)?;
            profile.avatar_url = row.try_get(1).map_err(&read)?;
        }
        Ok(profile)
    })
}

pub(crate) fn set_profile<'a>(
    conn: &'a mut AnyConnection,
    user_id: &'a str,
    displayname: Option<&'a str>,
    avatar_url: Option<&'a str>,
) -> BoxFuture<'a, Result<(), SqlError>> {
    Box::pin(async move {
        sqlx::query(
            "INSERT INTO appservice_profiles (user_id, displayname, avatar_url) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO UPDATE SET displayname = excluded.displayname, \
             avatar_url = excluded.avatar_url",
        )
        .bind(user_id)
        .bind(displayname)
        .bind(avatar_url)
        .execute(conn)
        .await
        .map_err(failed("recording a profile"))?;
        Ok(())
    })
}

pub(crate) fn kv_get<'a>(
    conn: &'a mut AnyConnection,
    namespace: &'a str,
    key: &'a str,
) -> BoxFuture<'a, Result<Option<String>, SqlError>> {
    Box::pin(async move {
        let row = sqlx::query("SELECT value FROM appservice_kv WHERE namespace = $1 AND key = $2")
            .bind(namespace)
            .bind(key)
            .fetch_optional(conn)
            .await
            .map_err(failed("reading a mapping"))?;
        row.map(|r| r.try_get::<String, _>(0)).transpose().map_err(failed("reading a mapping"))
    })
}

pub(crate) fn kv_keys_of<'a>(
    conn: &'a mut AnyConnection,
    namespace: &'a str,
    value: &'a str,
) -> BoxFuture<'a, Result<Vec<String>, SqlError>> {
    Box::pin(async move {
        let rows = sqlx::query(
            "SELECT key FROM appservice_kv WHERE namespace = $1 AND value = $2 ORDER BY key",
        )
        .bind(namespace)
        .bind(value)
        .fetch_all(conn)
        .await
        .map_err(failed("reading a mapping"))?;
        rows.iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<Result<_, _>>()
            .map_err(failed("reading a mapping"))
    })
}

pub(crate) fn kv_set<'a>(
    conn: &'a mut AnyConnection,
    namespace: &'a str,
    key: &'a str,
    value: &'a str,
) -> BoxFuture<'a, Result<(), SqlError>> {
    Box::pin(async move {
        sqlx::query(
            "INSERT INTO appservice_kv (namespace, key, value) VALUES ($1, $2, $3) \
             ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value",
        )
        .bind(namespace)
        .bind(key)
        .bind(value)
        .execute(conn)
        .await
        .map_err(failed("recording a mapping"))?;
        Ok(())
    })
}

pub(crate) fn kv_remove<'a>(
    conn: &'a mut AnyConnection,
    namespace: &'a str,
    key: &'a str,
) -> BoxFuture<'a, Result<bool, SqlError>> {
    Box::pin(async move {
        let done = sqlx::query("DELETE FROM appservice_kv WHERE namespace = $1 AND key = $2")
            .bind(namespace)
            .bind(key)
            .execute(conn)
            .await
            .map_err(failed("removing a mapping"))?;
        Ok(done.rows_affected() > 0)
    })
}
