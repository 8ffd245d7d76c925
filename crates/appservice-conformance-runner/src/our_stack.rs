//! Our own stack as a black-box target: `echo-appservice` on loopback with a generated
//! registration and our fake homeserver answering as one profile.

use std::{collections::BTreeMap, path::PathBuf, time::Duration};

use anyhow::{Context as _, bail};
use appservice_fake_hs::Profile;

use crate::{blackbox, fake_hs, http, random_hex};

/// `echo-appservice` on loopback with a generated registration and our fake homeserver
/// answering as one profile.
pub(crate) struct OurStack {
    child: tokio::process::Child,
    dir: PathBuf,
    pub(crate) target: blackbox::Target,
}

impl OurStack {
    pub(crate) async fn start(
        echo: &std::path::Path,
        run_id: &str,
        profile: Profile,
    ) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir()
            .join(format!("appservice-conformance-{}-{run_id}-{profile}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0")?;
            l.local_addr()?.port()
        };
        let url = format!("http://127.0.0.1:{port}");
        let (as_token, hs_token) = (random_hex(32)?, random_hex(32)?);
        let server = "localhost";
        let yaml = format!(
            "id: echo-conformance\nurl: \"{url}\"\nas_token: \"{as_token}\"\nhs_token: \"{hs_token}\"\n\
             sender_localpart: _echo_bot\nrate_limited: false\nreceive_ephemeral: true\nnamespaces:\n  \
             users: [{{exclusive: true, regex: '^@_echo_.*:localhost$'}}]\n  \
             aliases: [{{exclusive: true, regex: '^#_echo_.*:localhost$'}}]\n"
        );
        let registration_path = dir.join("registration.yaml");
        std::fs::write(&registration_path, &yaml)?;
        let registration = appservice_types::ValidatedRegistration::parse(&yaml)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let identity = fake_hs::Identity {
            server_name: server.to_owned(),
            bot: format!("@_echo_bot:{server}"),
            appservice: Some((url.clone(), hs_token.clone())),
        };
        let (hs, _) = fake_hs::start("127.0.0.1:0", identity, profile).await?;
        let log = std::fs::File::create(dir.join("echo.log"))?;
        let child = tokio::process::Command::new(echo)
            .arg("--registration")
            .arg(&registration_path)
            .arg("--homeserver")
            .arg(hs.url())
            .arg("--store")
            .arg(dir.join("store"))
            .arg("--server-name")
            .arg(server)
            .env("RUST_LOG", "info")
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", echo.display()))?;
        let mut placeholders: BTreeMap<&'static str, String> = BTreeMap::new();
        placeholders.insert("hs_token", hs_token.clone());
        placeholders.insert("as_token", as_token);
        placeholders.insert("server_name", server.to_owned());
        placeholders.insert("run", run_id.to_owned());
        placeholders.extend(blackbox::sample_ids(&registration, server));
        let mut stack = Self {
            child,
            dir,
            target: blackbox::Target { url: url.clone(), placeholders, fake_hs: Some(hs), profile },
        };
        stack.wait_ready(&url, &hs_token).await?;
        Ok(stack)
    }

    async fn wait_ready(&mut self, url: &str, hs_token: &str) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                bail!(
                    "echo-appservice exited ({status}) during start-up; its log:\n{}",
                    self.log_tail()
                );
            }
            let ping = http::send(
                &format!("{url}/_matrix/app/v1/ping"),
                "POST",
                Some(hs_token),
                b"{}".to_vec(),
            )
            .await;
            if matches!(ping, Ok((200, _, _))) {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("echo-appservice did not answer within 30 s; its log:\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("echo.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    pub(crate) async fn stop(mut self) {
        let _ = self.child.kill().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
