//! The schema: versioned migrations embedded in the binary, run forward at start-up.
//!
//! Our own version table (`appservice_schema`, one row per component) rather than sqlx's
//! `_sqlx_migrations`: a bridge runs its own sqlx migrations in the same database, and two
//! migrators in one `_sqlx_migrations` table take each other's versions for their own.

use appservice_dispatch::BoxFuture;
use sqlx::{Any, AnyConnection, AnyPool, Row, Transaction};

use crate::{Backend, SqlError, SqlErrorKind};

/// The table of schema versions, one row per component.
pub const SCHEMA_TABLE: &str = "appservice_schema";
/// This crate's row in [`SCHEMA_TABLE`].
pub const COMPONENT: &str = "appservice-sql";
/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// One forward step of the schema, in each backend's dialect.
struct Migration {
    sqlite: &'static str,
    postgres: &'static str,
    /// The tables the step creates: if one exists while the version says the step has not
    /// run, the database holds someone else's table of that name.
    creates: &'static [&'static str],
}

/// Version `n` is `MIGRATIONS[n - 1]`. Append only; never edit a released step.
const MIGRATIONS: &[Migration] = &[
    Migration {
        sqlite: include_str!("../migrations/sqlite/0001_transactions.sql"),
        postgres: include_str!("../migrations/postgres/0001_transactions.sql"),
        creates: &["appservice_transactions"],
    },
    Migration {
        sqlite: include_str!("../migrations/common/0002_state.sql"),
        postgres: include_str!("../migrations/common/0002_state.sql"),
        creates: &[
            "appservice_users",
            "appservice_memberships",
            "appservice_profiles",
            "appservice_kv",
        ],
    },
];

/// An arbitrary constant: the PostgreSQL advisory lock that makes replicas migrate one at a
/// time.
const MIGRATION_LOCK: i64 = 0x6173_5f6d_6967_7261; // "as_migra"

/// Brings the schema to [`SCHEMA_VERSION`], in one database transaction; refuses a database
/// written by a newer version or holding foreign tables of our names.
///
/// Boxed, for the reason given at `store::recorded`.
pub(crate) fn run(pool: &AnyPool, backend: Backend) -> BoxFuture<'_, Result<(), SqlError>> {
    Box::pin(async move {
        let query = |e| SqlError::sqlx(SqlErrorKind::Query, "migrating the schema", e);
        let mut tx = match backend {
            Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await.map_err(query)?,
            Backend::Postgres => {
                let mut tx = pool.begin().await.map_err(query)?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(MIGRATION_LOCK)
                    .execute(&mut *tx)
                    .await
                    .map_err(query)?;
                tx
            }
        };
        let found = current_version(&mut tx).await?;
        if found > SCHEMA_VERSION {
            return Err(SqlError::new(
                SqlErrorKind::Schema,
                format!(
                    "table {SCHEMA_TABLE} says {COMPONENT} schema version {found}, written by a newer \
                 version; this build reads up to version {SCHEMA_VERSION}: upgrade, or use \
                 another database"
                ),
            ));
        }
        for (i, step) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            let version = i as i64 + 1;
            for table in step.creates {
                if table_exists(&mut tx, backend, table).await? {
                    return Err(SqlError::new(
                        SqlErrorKind::Schema,
                        format!(
                            "table {table} exists, but table {SCHEMA_TABLE} says {COMPONENT} \
                             schema version {found}, before the version ({version}) that \
                             creates it: the table is not ours; use another database or schema"
                        ),
                    ));
                }
            }
            let sql = match backend {
                Backend::Sqlite => step.sqlite,
                Backend::Postgres => step.postgres,
            };
            // One statement at a time (`raw_sql`'s future fails the `Send` check of a boxed
            // future; see `store::recorded`). Migration files hold no `;` inside literals.
            for statement in
                sql.split(';').map(str::trim).filter(|s| !s.is_empty() && !is_comment(s))
            {
                sqlx::query(statement).persistent(false).execute(&mut *tx).await.map_err(|e| {
                    SqlError::sqlx(
                        SqlErrorKind::Schema,
                        format!("migration to version {version}"),
                        e,
                    )
                })?;
            }
            tracing::info!(component = COMPONENT, version, "database schema migrated");
        }
        if found < SCHEMA_VERSION {
            sqlx::query(
                "INSERT INTO appservice_schema (component, version) VALUES ($1, $2) \
             ON CONFLICT (component) DO UPDATE SET version = excluded.version",
            )
            .bind(COMPONENT)
            .bind(SCHEMA_VERSION)
            .execute(&mut *tx)
            .await
            .map_err(query)?;
        }
        tx.commit().await.map_err(query)
    })
}

/// Our row of the version table (created if missing), 0 if none.
fn current_version<'a>(
    tx: &'a mut Transaction<'static, Any>,
) -> BoxFuture<'a, Result<i64, SqlError>> {
    Box::pin(async move {
        let foreign = |e| {
            SqlError::sqlx(
                SqlErrorKind::Schema,
                format!(
                    "table {SCHEMA_TABLE} is not ours (expected columns component TEXT, version \
                 BIGINT): use another database or schema"
                ),
                e,
            )
        };
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS appservice_schema \
         (component TEXT PRIMARY KEY, version BIGINT NOT NULL)",
        )
        .execute(&mut **tx)
        .await
        .map_err(|e| SqlError::sqlx(SqlErrorKind::Query, "creating the version table", e))?;
        let row = sqlx::query("SELECT version FROM appservice_schema WHERE component = $1")
            .bind(COMPONENT)
            .fetch_optional(&mut **tx)
            .await
            .map_err(foreign)?;
        match row {
            Some(row) => row.try_get::<i64, _>(0).map_err(foreign),
            None => Ok(0),
        }
    })
}

fn table_exists<'a>(
    conn: &'a mut AnyConnection,
    backend: Backend,
    table: &'a str,
) -> BoxFuture<'a, Result<bool, SqlError>> {
    Box::pin(async move {
        let sql = match backend {
            Backend::Sqlite => "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1",
            Backend::Postgres => {
                "SELECT 1 FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = $1"
            }
        };
        let row = sqlx::query(sql)
            .bind(table)
            .fetch_optional(conn)
            .await
            .map_err(|e| SqlError::sqlx(SqlErrorKind::Query, "reading the catalogue", e))?;
        Ok(row.is_some())
    })
}

/// Whether `statement` is only comment lines.
fn is_comment(statement: &str) -> bool {
    statement.lines().all(|line| line.trim().is_empty() || line.trim_start().starts_with("--"))
}
