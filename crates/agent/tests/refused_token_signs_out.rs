//! When the gateway stops accepting the desktop's token (an admin revoked it, or it
//! expired), the desktop signs out cleanly: the open stream ends, the UI is told why, the
//! keyring forgets the token and the next start asks for a sign-in instead of retrying.

#![allow(clippy::unwrap_used)]

mod common;

use common::{World, console, service, signed_in, wait_for};
use switchboard_agent::Vault;
use switchboard_core::desktop::UiEvent;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_signs_the_agent_out_and_says_why() {
    let world = World::start().await;
    let dir = tempfile::tempdir().unwrap();
    let svc = service();
    let (c, mut ui) = signed_in(&world, dir.path(), &svc).await;
    let vault = Vault::new(svc.clone());
    assert!(vault.load(&world.url()).unwrap().is_some());

    // The admin revokes alice's token while her console is connected.
    let store = switchboard_gateway::store::connect(world.db.url()).await.unwrap();
    let hash = switchboard_gateway::auth::hash_token(&world.token);
    let switchboard_gateway::store::TokenCheck::Valid(who) =
        store.authenticate(&hash, switchboard_gateway::now_ms()).await.unwrap()
    else {
        panic!("alice's token is valid before");
    };
    store
        .revoke_token(world.seeded.business, who.token_id, switchboard_gateway::now_ms())
        .await
        .unwrap();

    let ev = wait_for(&mut ui, "signed out", |e| matches!(e, UiEvent::SignedOut { .. })).await;
    let UiEvent::SignedOut { reason } = ev else {
        unreachable!()
    };
    assert!(reason.contains("revoked"), "{reason}");
    assert!(c.state().await.unwrap().session.is_none());
    assert_eq!(
        vault.load(&world.url()).unwrap(),
        None,
        "the refused token is forgotten"
    );
    let again = console(dir.path(), &svc).await;
    assert!(
        again.resume_session().await.unwrap().is_none(),
        "the next start asks for a sign-in"
    );
    // Signing in with the revoked token says why it failed.
    let err = again.sign_in(&world.url(), &world.token).await.unwrap_err();
    assert!(err.to_string().contains("revoked"), "{err}");
}
