//! `GET /v1/floor` against a scripted day of simulated calls, its figures worked out by hand
//! in the test from the times the script gave the provider; the same after a restart; for
//! supervisors and admins of the business only.

#![allow(clippy::unwrap_used)]

mod support;

use support::*;
use switchboard_core::floor::Floor;
use switchboard_core::{CallSid, CallStatus};

/// The business's number (seed 1) and the simulator provider's name.
const NUMBER: &str = "+14155550100";
const PROVIDER: &str = "sim-1";

async fn send(http: &reqwest::Client, gw: &TestGateway, vendor: &str, event: &str, at: i64, status: CallStatus) {
    let (code, body) = post_webhook(http, &gw.base, PROVIDER, &inbound(vendor, event, at, status, NUMBER)).await;
    assert_eq!(code, 200, "{vendor} {status}: {body}");
}

async fn sid_of(client: &switchboard_client::Client, vendor: &str) -> CallSid {
    eventually(10, &format!("call {vendor}"), || async {
        let list = client.calls(&Default::default()).await.ok()?;
        list.calls
            .into_iter()
            .find(|c| c.vendor_call_id.as_deref() == Some(vendor))
            .map(|c| c.call_sid)
    })
    .await
}

/// The figures that do not tick with the clock.
fn settled(f: &Floor) -> Vec<(String, u32, u32, u32, u32, u32, Option<String>)> {
    f.queues
        .iter()
        .map(|q| {
            (
                q.name.clone(),
                q.offered,
                q.answered,
                q.answered_within_target,
                q.abandoned,
                q.waiting,
                q.service_level_pct.map(|p| format!("{p:.3}")),
            )
        })
        .collect()
}

async fn scripted_day(db: TestDb) {
    let (gw, seeded) = TestGateway::start(&db, 2).await;
    let store = gw.store.clone();
    let http = reqwest::Client::new();
    let sam = gw.client(&token(&*gw.store, &seeded[0], "sam").await);
    let alice = gw.client(&token(&*gw.store, &seeded[0], "alice").await);
    let day_start = t0();

    // The day, in ms after `day_start` (the provider's own times):
    // A answered after 5 s; B after 25 s (over the 20 s target); C abandoned after 30 s;
    // D answered by Alice through the API, long after it rang; E still waiting; F answered
    // after exactly 20 s. Y rang and ended the day before, so it is not today's.
    send(&http, &gw, "Y", "y1", -60_000, CallStatus::Ringing).await;
    send(&http, &gw, "Y", "y2", -50_000, CallStatus::Abandoned).await;
    send(&http, &gw, "A", "a1", 1_000, CallStatus::Ringing).await;
    send(&http, &gw, "A", "a2", 6_000, CallStatus::Answered).await;
    send(&http, &gw, "A", "a3", 60_000, CallStatus::Completed).await;
    send(&http, &gw, "B", "b1", 100_000, CallStatus::Ringing).await;
    send(&http, &gw, "B", "b2", 125_000, CallStatus::Answered).await;
    send(&http, &gw, "C", "c1", 200_000, CallStatus::Ringing).await;
    send(&http, &gw, "C", "c2", 230_000, CallStatus::Abandoned).await;
    send(&http, &gw, "D", "d1", 300_000, CallStatus::Ringing).await;
    send(&http, &gw, "E", "e1", 400_000, CallStatus::Ringing).await;
    send(&http, &gw, "F", "f1", 500_000, CallStatus::Ringing).await;
    send(&http, &gw, "F", "f2", 520_000, CallStatus::Answered).await;
    send(&http, &gw, "F", "f3", 580_000, CallStatus::Completed).await;
    let d = sid_of(&alice, "D").await;
    alice.answer(&d).await.unwrap();
    let d_rec = eventually(10, "D answered", || async {
        let c = alice.call(&d).await.ok()?.call;
        (c.status == CallStatus::Answered).then_some(c)
    })
    .await;
    let e = sid_of(&alice, "E").await;
    let d_wait = d_rec.answered_at.unwrap() - d_rec.created_at;

    let floor = eventually(10, "B, D and E on the floor", || async {
        let f = sam.floor(Some(day_start)).await.ok()?;
        (f.calls.len() == 3).then_some(f)
    })
    .await;
    let q = &floor.queues[0];
    // Offered A-F; answered A (5 s), B (25 s), D, F (20 s); within target A and F.
    assert_eq!(
        (q.offered, q.answered, q.answered_within_target, q.abandoned),
        (6, 4, 2, 1),
        "{q:?}"
    );
    let asa = (5_000 + 25_000 + d_wait + 20_000) as f64 / 4.0 / 1000.0;
    assert!(
        (q.average_speed_of_answer_secs.unwrap() - asa).abs() < 1e-6,
        "{q:?} vs {asa}"
    );
    assert_eq!(q.service_level_pct, Some(2.0 * 100.0 / 5.0));
    assert!(q.below_target);
    assert_eq!(q.target_secs, 20);
    // E waits: since 400 s after the day started.
    assert_eq!(q.waiting, 1);
    let e_wait = (floor.at - recent(400_000)) / 1000;
    assert_eq!(q.longest_wait_secs, Some(e_wait));
    assert!(floor.calls.iter().any(|c| c.call_sid == e && c.talk_secs.is_none()));

    // Alice is on D; Bob on nothing; B is answered with nobody's desktop on it.
    let alice_tile = floor.agents.iter().find(|a| a.name == "alice").unwrap();
    let on = alice_tile.call.as_ref().unwrap();
    assert_eq!((on.call_sid.clone(), on.customer.as_str()), (d.clone(), "+16285550999"));
    assert!(floor.agents.iter().find(|a| a.name == "bob").unwrap().call.is_none());
    assert_eq!(floor.agents.len(), 3, "alice, bob, sam");

    // The other business's supervisor sees none of it.
    let other = gw.client(&token(&*gw.store, &seeded[1], "sam").await);
    let theirs = other.floor(Some(day_start)).await.unwrap();
    assert!(theirs.calls.is_empty());
    assert_eq!(theirs.queues[0].offered, 0);

    // Agents may not watch the floor; a day start out of range is refused.
    let err = alice.floor(None).await.unwrap_err().to_string();
    assert!(err.contains("403") || err.contains("supervisors"), "{err}");
    let err = sam
        .floor(Some(day_start - 8 * 24 * 3_600_000))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("day_start"), "{err}");

    // An admin moves the target to 30 s: B (answered after 25 s) now counts as in time,
    // 3 of 5; the boards hear of it (a queue_changed event), so the next floor has it.
    // Supervisors may not change it, nor may an admin touch another business's queue.
    let admin = gw.client(&admin_token(&gw, &seeded[0]).await);
    let patch = |secs| switchboard_core::api::QueuePatch {
        service_level_secs: Some(secs),
        ..Default::default()
    };
    let e = sam.update_queue(q.id, &patch(30)).await.unwrap_err().to_string();
    assert!(e.contains("403") || e.contains("admins"), "{e}");
    let e = admin
        .update_queue(theirs.queues[0].id, &patch(30))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("404") || e.contains("not found"), "{e}");
    let e = admin.update_queue(q.id, &patch(0)).await.unwrap_err().to_string();
    assert!(e.contains("service_level_secs"), "{e}");
    let changed = admin.update_queue(q.id, &patch(30)).await.unwrap();
    assert_eq!((changed.name.as_str(), changed.service_level_secs), ("Front desk", 30));
    let at_30 = sam.floor(Some(day_start)).await.unwrap();
    let q30 = &at_30.queues[0];
    assert_eq!((q30.target_secs, q30.answered_within_target), (30, 3), "{q30:?}");
    assert_eq!(q30.service_level_pct, Some(3.0 * 100.0 / 5.0));
    admin.update_queue(q.id, &patch(20)).await.unwrap();

    // After a restart (a new gateway on the same database) the figures come from what is
    // stored. The simulator ends the calls the last run left live (its callers do not
    // survive a restart): B completed, D completed (answered through the last run's
    // simulator, whose event ids the new one must not repeat), E abandoned. So: 6 offered, 4 answered,
    // 2 within target, 2 abandoned, nobody waiting, 2 of 6 settled within target.
    drop(gw);
    let again = TestGateway::with_store(store.clone()).await;
    let sam_again = again.client(&token(&*store, &seeded[0], "sam").await);
    let after = eventually(10, "the last run's calls ended", || async {
        let f = sam_again.floor(Some(day_start)).await.ok()?;
        f.calls.is_empty().then_some(f)
    })
    .await;
    assert_eq!(
        settled(&after),
        vec![(
            "Front desk".to_owned(),
            6,
            4,
            2,
            2,
            0,
            Some(format!("{:.3}", 200.0 / 6.0))
        )]
    );
    assert_eq!(
        after.queues[0].average_speed_of_answer_secs,
        q.average_speed_of_answer_secs
    );
}

#[tokio::test]
async fn the_floor_counts_a_scripted_day_on_sqlite() {
    scripted_day(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn the_floor_counts_a_scripted_day_on_postgres() {
    scripted_day(TestDb::postgres().await).await;
}
