//! The token is kept in the OS keyring and nowhere else: not in the cache files, not in
//! Debug output; sign-out removes it.

#![allow(clippy::unwrap_used)]

mod common;

use common::{World, console, service, signed_in, wait_for};
use switchboard_agent::Vault;
use switchboard_core::desktop::UiEvent;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_lives_in_the_keyring_only() {
    let world = World::start().await;
    let dir = tempfile::tempdir().unwrap();
    let svc = service();
    let (c, mut ui) = signed_in(&world, dir.path(), &svc).await;
    world.ring("K1").await;
    wait_for(&mut ui, "a call", |e| matches!(e, UiEvent::CallChanged(_))).await;

    let vault = Vault::new(svc.clone());
    assert_eq!(
        vault.load(&world.url()).unwrap().as_deref(),
        Some(world.token.as_str()),
        "in the keyring"
    );
    let secret = world.token.as_bytes();
    let hex_part = &secret[4..20]; // also catch it stored without its prefix
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !contains(&bytes, secret) && !contains(&bytes, hex_part),
            "token found in {}",
            path.display()
        );
    }
    assert!(!format!("{c:?}").contains(&world.token), "not in Debug output");
    assert!(!format!("{:?}", c.state().await.unwrap()).contains(&world.token));

    c.sign_out().await.unwrap();
    assert_eq!(vault.load(&world.url()).unwrap(), None, "sign-out forgets it");
    let again = console(dir.path(), &svc).await;
    assert!(
        again.resume_session().await.unwrap().is_none(),
        "no token, no silent sign-in"
    );
}
