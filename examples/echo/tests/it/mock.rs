//! The mock homeserver of the echo's tests: the fake homeserver crate's [`SmallHomeserver`]
//! (a very small homeserver of a [`Profile`]) for the echo's bot and `hs_token`.

use appservice_fake_hs::{Profile, SmallHomeserver};

use crate::{BOT, HS_TOKEN};

/// A [`SmallHomeserver`] for the echo; its server task ends with the test's runtime.
#[derive(Clone, Debug)]
pub(crate) struct Homeserver(SmallHomeserver);

impl Homeserver {
    /// Starts one answering as `profile` does.
    pub(crate) async fn start(profile: Profile) -> Self {
        Self(SmallHomeserver::start(profile, BOT, HS_TOKEN).await.unwrap())
    }
}

impl std::ops::Deref for Homeserver {
    type Target = SmallHomeserver;

    fn deref(&self) -> &SmallHomeserver {
        &self.0
    }
}
