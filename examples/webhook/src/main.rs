//! `webhook-bridge --registration FILE --homeserver URL [--database URL] [--server-name NAME]`,
//! with the webhook token in `WEBHOOK_TOKEN`.

use appservice::{Builder, shutdown_signal, types::Secret};
use clap::Parser;
use webhook_bridge::Webhooks;

/// A webhook bridge: webhook posts appear in Matrix rooms as puppets.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The appservice registration; the bridge listens on the host and port of its `url`.
    #[arg(long)]
    registration: std::path::PathBuf,
    /// The homeserver's Client-Server API base URL.
    #[arg(long)]
    homeserver: String,
    /// sqlite://PATH or postgres://… (default: SQLite beside the registration).
    #[arg(long)]
    database: Option<String>,
    /// The homeserver's server name (default: from `whoami`).
    #[arg(long)]
    server_name: Option<String>,
    /// The token webhook senders give as `Authorization: Bearer …`.
    #[arg(long, env = "WEBHOOK_TOKEN", hide_env_values = true)]
    webhook_token: String,
}

#[tokio::main]
async fn main() -> Result<(), appservice::BoxError> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let mut builder = Builder::from_file(&args.registration, args.homeserver)?;
    if let Some(url) = args.database {
        builder = builder.database(url);
    }
    if let Some(name) = args.server_name {
        builder = builder.server_name(name.try_into()?);
    }
    let bridge = builder.start().await?;
    let webhooks = Webhooks::new(&bridge, Secret::new(args.webhook_token)).await?;
    let routes = webhooks.router();
    Ok(bridge.run_with(webhooks, routes, shutdown_signal()).await?)
}
