//! Waiting for a session's transport, shared by the tests that set up calls over loopback.

use std::time::Duration;

use switchboard_media::peer::PeerSession;
use switchboard_media::session::{MediaSession, MediaState};

/// Returns once `s` is connected; fails the test after 15 s.
pub async fn wait_connected(s: &PeerSession) {
    let mut rx = s.subscribe();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while s.state() != MediaState::Connected {
        tokio::select! {
            _ = rx.recv() => {}
            _ = tokio::time::sleep_until(deadline) => panic!("not connected within 15 s: {:?}", s.state()),
        }
    }
}
