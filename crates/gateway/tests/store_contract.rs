//! One contract suite, run unchanged against SQLite and PostgreSQL: every scenario below
//! is instantiated once per backend.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use support::{TestDb, inbound, seed};
use switchboard_core::api::{CallListQuery, LeadQuery, TranscriptTurnIn, TransferTarget};
use switchboard_core::{
    AgentRole, AgentStatus, CallAction, CallErrorCode, CallRecord, CallStatus, Direction, LeadStatus,
    NormalizedCallEvent, StreamEventKind, TelephonyVendor, TranscriptRole, VoicePlatform,
};
use switchboard_gateway::store::{
    IngestOutcome, NewLead, NewNumber, Principal, ProviderRow, Store, StoreError, TokenCheck,
};

async fn provider_row(store: &dyn Store, name: &str) -> ProviderRow {
    store
        .providers()
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.name == name)
        .unwrap()
}

fn principal(seeded: &switchboard_gateway::demo::Seeded, agent: &str) -> Principal {
    let role = if agent == "sam" {
        AgentRole::Supervisor
    } else {
        AgentRole::Agent
    };
    Principal {
        business_id: seeded.business,
        agent_id: seeded.agent(agent),
        role,
        token_id: 0,
        platform: false,
    }
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $( #[tokio::test] async fn $name() { super::run("sqlite", super::$name).await } )* }
        mod postgres { $( #[tokio::test] async fn $name() { super::run("postgres", super::$name).await } )* }
    };
}

async fn run<F, Fut>(kind: &str, scenario: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let db = TestDb::of(kind).await;
    let store = switchboard_gateway::store::connect(db.url()).await.unwrap();
    assert_eq!(store.backend(), kind);
    scenario(store).await;
    db.cleanup().await;
}

contract!(
    inbound_call_is_created_routed_and_updated,
    routing_reads_number_lead_and_queues_together,
    redelivered_event_is_a_duplicate,
    concurrent_first_events_make_one_call,
    concurrent_events_of_one_call_are_each_applied_once,
    correlation_follows_the_documented_order,
    an_id_another_call_holds_is_a_conflict_not_a_retry,
    unknown_call_is_refused_with_an_audit_event,
    transcripts_are_idempotent_and_scoped,
    actions_follow_the_state_machine_and_claims,
    outbound_record_exists_before_the_provider_answers,
    history_pages_and_events_resume_in_order,
    agent_status_and_directory_reads,
    wrap_up_is_saved_once_per_idempotency_key,
);

async fn inbound_call_is_created_routed_and_updated(store: Arc<dyn Store>) {
    let s = seed(&*store, 1).await;
    let p = provider_row(&*store, "sim-1").await;
    let leads = store.leads(s.business, &LeadQuery::default()).await.unwrap();
    let lead = &leads[0];
    let mut ev = inbound("V1", "e1", 1_000, CallStatus::Ringing, "+14155550100");
    ev.from = Some(lead.phone.clone());
    let got = store.ingest_call_event(&p, &ev).await.unwrap();
    assert_eq!(got.outcome, IngestOutcome::Created);
    let rec = store.call(s.business, &got.call_sid).await.unwrap().unwrap();
    assert_eq!(rec.status, CallStatus::Ringing);
    assert_eq!(rec.direction, Direction::Inbound);
    assert_eq!(rec.lead_id, Some(lead.id), "caller matched to the lead by phone");
    assert_eq!(rec.number_id, Some(s.numbers[0]), "routed to the number it rang");
    assert!(rec.queue_id.is_some(), "put in the default queue");
    let linked = store.lead(s.business, lead.id).await.unwrap().unwrap();
    assert_eq!(
        linked.call_sid.as_ref(),
        Some(&got.call_sid),
        "lead points at its latest call"
    );

    let ev2 = inbound("V1", "e2", 2_000, CallStatus::Answered, "+14155550100");
    let got2 = store.ingest_call_event(&p, &ev2).await.unwrap();
    assert_eq!(
        (got2.call_sid.clone(), got2.outcome),
        (got.call_sid.clone(), IngestOutcome::Updated)
    );
    let rec = store.call(s.business, &got.call_sid).await.unwrap().unwrap();
    assert_eq!(
        (rec.status, rec.answered_at),
        (CallStatus::Answered, Some(support::recent(2_000)))
    );

    // A late ringing changes nothing.
    let late = inbound("V1", "e1b", 1_500, CallStatus::Ringing, "+14155550100"); // late, already superseded
    assert_eq!(
        store.ingest_call_event(&p, &late).await.unwrap().outcome,
        IngestOutcome::Unchanged
    );
    let queue = store.queue(s.business).await.unwrap();
    assert!(queue.is_empty(), "answered calls leave the queue");
}

/// Routing reads the number, the lead and the queues in one statement: with several queues
/// the default one is picked, and a business without queues still gets its number and lead.
async fn routing_reads_number_lead_and_queues_together(store: Arc<dyn Store>) {
    let s = seed(&*store, 1).await;
    let overflow = store.create_queue(s.business, "Overflow", false).await.unwrap();
    let p = provider_row(&*store, "sim-1").await;
    let got = store
        .ingest_call_event(&p, &inbound("VQ1", "q1", 1_000, CallStatus::Ringing, "+14155550100"))
        .await
        .unwrap();
    let rec = store.call(s.business, &got.call_sid).await.unwrap().unwrap();
    assert!(
        rec.queue_id.is_some() && rec.queue_id != Some(overflow),
        "the default queue, not {overflow:?}: {:?}",
        rec.queue_id
    );

    let bare = store.create_business("No queues", false).await.unwrap();
    let provider = store
        .create_provider(bare, "sim-bare", "simulator", &support::quiet_sim())
        .await
        .unwrap();
    let number = NewNumber {
        e164: "+14155559900".parse().unwrap(),
        label: "Main".into(),
        provider_id: provider,
        inbound: true,
        outbound: true,
        is_default: true,
    };
    let number = store.create_number(bare, &number).await.unwrap();
    let lead = NewLead {
        phone: "+14155551234".parse().unwrap(),
        name: "Ada".into(),
        company: None,
        status: LeadStatus::New,
        notes: None,
    };
    let lead = store.create_lead(bare, &lead).await.unwrap();
    let p = provider_row(&*store, "sim-bare").await;
    let mut ev = inbound("VQ2", "q2", 1_000, CallStatus::Ringing, "+14155559900");
    ev.from = Some("+14155551234".into());
    let got = store.ingest_call_event(&p, &ev).await.unwrap();
    let rec = store.call(bare, &got.call_sid).await.unwrap().unwrap();
    assert_eq!(
        (rec.number_id, rec.lead_id, rec.queue_id),
        (Some(number), Some(lead), None)
    );
}

async fn redelivered_event_is_a_duplicate(store: Arc<dyn Store>) {
    let s = seed(&*store, 1).await;
    let p = provider_row(&*store, "sim-1").await;
    let ev = inbound("V2", "dup-1", 1_000, CallStatus::Ringing, "+14155550100");
    let first = store.ingest_call_event(&p, &ev).await.unwrap();
    let events_before = store.events_since(s.business, 0, 100).await.unwrap().len();
    let again = store.ingest_call_event(&p, &ev).await.unwrap();
    assert_eq!(again.outcome, IngestOutcome::Duplicate);
    assert_eq!(again.call_sid, first.call_sid);
    assert_eq!(
        store.events_since(s.business, 0, 100).await.unwrap().len(),
        events_before,
        "no new stream event"
    );
    assert_eq!(
        store
            .calls(s.business, &CallListQuery::default())
            .await
            .unwrap()
            .calls
            .len(),
        1
    );

    // A status change, then a copy of its event id carrying a later status: the receipt
    // decides, so nothing of the copy is written (on PostgreSQL receipt, update and stream
    // event are one statement, and this is the branch where its receipt is refused).
    let answered = inbound("V2", "dup-2", 2_000, CallStatus::Answered, "+14155550100");
    let applied = store.ingest_call_event(&p, &answered).await.unwrap();
    assert_eq!(applied.outcome, IngestOutcome::Updated);
    let events_after = store.events_since(s.business, 0, 100).await.unwrap().len();
    assert_eq!(events_after, events_before + 1, "the change's one stream event");
    let before = store.call(s.business, &first.call_sid).await.unwrap().unwrap();
    let reused = inbound("V2", "dup-2", 3_000, CallStatus::Completed, "+14155550100");
    let again = store.ingest_call_event(&p, &reused).await.unwrap();
    assert_eq!(
        (again.outcome, &again.call_sid),
        (IngestOutcome::Duplicate, &first.call_sid)
    );
    assert_eq!(
        store.events_since(s.business, 0, 100).await.unwrap().len(),
        events_after,
        "no stream event for the refused copy"
    );
    let after = store.call(s.business, &first.call_sid).await.unwrap().unwrap();
    assert_eq!(after, before, "the call is as the first copy left it");
    assert_eq!(after.status, CallStatus::Answered);
}

/// A carrier that fires a new call's first webhooks at once (ringing twice, from two of
/// its servers): whichever stores the call first wins, the others lose the race on the
/// call's vendor id, roll back and are applied to that call. One call, one creation event.
async fn concurrent_first_events_make_one_call(store: Arc<dyn Store>) {
    let s = seed(&*store, 1).await;
    let p = provider_row(&*store, "sim-1").await;
    let events_before = store.events_since(s.business, 0, 100).await.unwrap().len();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (store, p) = (store.clone(), p.clone());
            tokio::spawn(async move {
                let ev = inbound(
                    "VR",
                    &format!("race-{i}"),
                    1_000 + i,
                    CallStatus::Ringing,
                    "+14155550100",
                );
                store.ingest_call_event(&p, &ev).await
            })
        })
        .collect();
    let mut outcomes = vec![];
    let mut sids = std::collections::HashSet::new();
    for t in tasks {
        let got = t.await.unwrap().expect("every copy is stored or applied");
        sids.insert(got.call_sid);
        outcomes.push(got.outcome);
    }
    assert_eq!(sids.len(), 1, "one call: {sids:?}");
    let created = outcomes.iter().filter(|o| **o == IngestOutcome::Created).count();
    assert_eq!(created, 1, "{outcomes:?}");
    let events = store.events_since(s.business, 0, 100).await.unwrap();
    let creations = events[events_before..]
        .iter()
        .filter(|e| e.kind == StreamEventKind::CallCreated)
        .count();
    assert_eq!(creations, 1);
}

/// A live call's events arriving at once (a carrier's status callbacks and a voice
/// platform's, from several of their servers). Each is applied exactly once, and none is
/// lost to another's write: the call is read and written in one transaction that holds
/// it (`FOR UPDATE` on PostgreSQL, where the writers have connections of their own), so
/// no write is merged from a call another writer has changed since. The ids come from
/// different events, so the call ends with all of them.
async fn concurrent_events_of_one_call_are_each_applied_once(store: Arc<dyn Store>) {
    let s = seed(&*store, 1).await;
    let p = provider_row(&*store, "sim-1").await;
    let first = store
        .ingest_call_event(&p, &inbound("VC", "conc-0", 1_000, CallStatus::Ringing, "+14155550100"))
        .await
        .unwrap();
    let events_before = store.events_since(s.business, 0, 100).await.unwrap().len();
    let mut batch: Vec<NormalizedCallEvent> = (0..6)
        .map(|i| {
            inbound(
                "VC",
                &format!("conc-a{i}"),
                2_000 + i,
                CallStatus::Answered,
                "+14155550100",
            )
        })
        .collect();
    let mut platform = inbound("VC", "conc-p", 2_500, CallStatus::Answered, "+14155550100");
    platform.voice_platform = Some(VoicePlatform::LiveKit);
    platform.voice_platform_call_id = Some("SCL_conc".into());
    let mut conversation = inbound("VC", "conc-c", 2_600, CallStatus::Answered, "+14155550100");
    conversation.conversation_id = Some("conv-conc".into());
    let ended = inbound("VC", "conc-e", 9_000, CallStatus::Completed, "+14155550100");
    batch.extend([platform, conversation, ended]);

    let deliver = |events: Vec<NormalizedCallEvent>| {
        let tasks: Vec<_> = events
            .into_iter()
            .map(|ev| {
                let (store, p) = (store.clone(), p.clone());
                tokio::spawn(async move { store.ingest_call_event(&p, &ev).await })
            })
            .collect();
        async move {
            let mut outcomes = vec![];
            for t in tasks {
                let got = t.await.unwrap().expect("every event is applied, none refused");
                outcomes.push((got.call_sid, got.outcome));
            }
            outcomes
        }
    };
    let outcomes = deliver(batch.clone()).await;
    assert!(
        outcomes
            .iter()
            .all(|(sid, o)| *sid == first.call_sid && *o != IngestOutcome::Duplicate),
        "{outcomes:?}"
    );
    let updated = outcomes.iter().filter(|(_, o)| *o == IngestOutcome::Updated).count();
    let events = store.events_since(s.business, 0, 100).await.unwrap();
    assert_eq!(
        events.len() - events_before,
        updated,
        "one stream event per change: {outcomes:?}"
    );
    let rec = store.call(s.business, &first.call_sid).await.unwrap().unwrap();
    assert_eq!(rec.status, CallStatus::Completed);
    assert_eq!(rec.voice_platform_call_id.as_deref(), Some("SCL_conc"));
    assert_eq!(rec.conversation_id.as_deref(), Some("conv-conc"));

    // All of them again, at once: every copy is a duplicate and nothing changes.
    let again = deliver(batch).await;
    assert!(again.iter().all(|(_, o)| *o == IngestOutcome::Duplicate), "{again:?}");
    assert_eq!(
        store.events_since(s.business, 0, 100).await.unwrap().len(),
        events.len()
    );
    assert_eq!(store.call(s.business, &first.call_sid).await.unwrap().unwrap(), rec);
}

async fn correlation_follows_the_documented_order(store: Arc<dyn Store>) {
    let s = seed(&*store, 1).await;
    let p = provider_row(&*store, "sim-1").await;
    let a = store
        .ingest_call_event(&p, &inbound("VA", "a1", 1_000, CallStatus::Ringing, "+14155550100"))
        .await
        .unwrap();
    // 1. call_sid wins over a vendor id that names another call.
    let b = store
        .ingest_call_event(&p, &inbound("VB", "b1", 1_100, CallStatus::Ringing, "+14155550101"))
        .await
        .unwrap();
    let mut by_sid = inbound("VB", "a2", 1_200, CallStatus::Answered, "+14155550100");
    by_sid.call_sid = Some(a.call_sid.clone());
    assert_eq!(store.ingest_call_event(&p, &by_sid).await.unwrap().call_sid, a.call_sid);
    // 2. (vendor, vendor_call_id).
    assert_eq!(
        store
            .ingest_call_event(&p, &inbound("VB", "b2", 1_300, CallStatus::Answered, "+14155550101"))
            .await
            .unwrap()
            .call_sid,
        b.call_sid
    );
    // 3. (platform, platform id): attach it through the vendor id first, then use it alone.
    let mut attach = inbound("VB", "b3", 1_400, CallStatus::Answered, "+14155550101");
    attach.voice_platform = Some(VoicePlatform::LiveKit);
    attach.voice_platform_call_id = Some("SCL_1".into());
    store.ingest_call_event(&p, &attach).await.unwrap();
    let platform_only = NormalizedCallEvent {
        voice_platform: Some(VoicePlatform::LiveKit),
        voice_platform_call_id: Some("SCL_1".into()),
        status: Some(CallStatus::OnHold),
        ..NormalizedCallEvent::new("b4", 1_500)
    };
    assert_eq!(
        store.ingest_call_event(&p, &platform_only).await.unwrap().call_sid,
        b.call_sid
    );
    // 4. Fallback: a platform event with an unseen id lands on the newest in-progress call
    //    on its service number that has no platform id yet.
    let c = store
        .ingest_call_event(&p, &inbound("VC", "c1", 1_600, CallStatus::Ringing, "+14155550102"))
        .await
        .unwrap();
    let fallback = NormalizedCallEvent {
        voice_platform: Some(VoicePlatform::LiveKit),
        voice_platform_call_id: Some("SCL_2".into()),
        direction: Some(Direction::Inbound),
        to: Some("+14155550102".into()),
        status: Some(CallStatus::Answered),
        ..NormalizedCallEvent::new("c2", 1_700)
    };
    assert_eq!(
        store.ingest_call_event(&p, &fallback).await.unwrap().call_sid,
        c.call_sid
    );
    let rec = store.call(s.business, &c.call_sid).await.unwrap().unwrap();
    assert_eq!(
        rec.voice_platform_call_id.as_deref(),
        Some("SCL_2"),
        "fallback attached the platform id"
    );
    assert_eq!(rec.telephony_vendor, Some(TelephonyVendor::Simulator));
}

/// What a LiveKit outbound leg once did before the webhook parser knew it: a phantom call
/// took the platform id, then the real call's result named that id. The database refuses
/// the second holder; the store must say so as a conflict (the provider's event queue
/// drops it and goes on), not as a database failure it would retry for ever.
async fn an_id_another_call_holds_is_a_conflict_not_a_retry(store: Arc<dyn Store>) {
    let s = seed(&*store, 1).await;
    let p = provider_row(&*store, "sim-1").await;
    let a = store
        .ingest_call_event(&p, &inbound("VA", "a1", 1_000, CallStatus::Ringing, "+14155550100"))
        .await
        .unwrap();
    let mut b = inbound("VB", "b1", 1_100, CallStatus::Ringing, "+14155550101");
    b.voice_platform = Some(VoicePlatform::LiveKit);
    b.voice_platform_call_id = Some("SCL_taken".into());
    store.ingest_call_event(&p, &b).await.unwrap();
    let clash = NormalizedCallEvent {
        call_sid: Some(a.call_sid.clone()),
        voice_platform: Some(VoicePlatform::LiveKit),
        voice_platform_call_id: Some("SCL_taken".into()),
        status: Some(CallStatus::Answered),
        ..NormalizedCallEvent::new("a2", 1_200)
    };
    match store.ingest_call_event(&p, &clash).await {
        Err(StoreError::Conflict(m)) => assert!(m.contains(a.call_sid.as_str()), "{m}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    let rec = store.call(s.business, &a.call_sid).await.unwrap().unwrap();
    assert_eq!((rec.status, rec.voice_platform_call_id), (CallStatus::Ringing, None));
    // The refused event left no receipt: the call's next event is applied.
    let mut next = inbound("VA", "a3", 1_300, CallStatus::Answered, "+14155550100");
    next.call_sid = Some(a.call_sid.clone());
    store.ingest_call_event(&p, &next).await.unwrap();
    let rec = store.call(s.business, &a.call_sid).await.unwrap().unwrap();
    assert_eq!(rec.status, CallStatus::Answered);
}

async fn unknown_call_is_refused_with_an_audit_event(store: Arc<dyn Store>) {
    let s = seed(&*store, 1).await;
    let p = provider_row(&*store, "sim-1").await;
    let stray = NormalizedCallEvent {
        telephony_vendor: Some(TelephonyVendor::Simulator),
        vendor_call_id: Some("NOPE".into()),
        status: Some(CallStatus::Completed),
        ..NormalizedCallEvent::new("x1", 1_000)
    };
    match store.ingest_call_event(&p, &stray).await {
        Err(StoreError::UnknownCall(m)) => assert!(m.contains("NOPE"), "{m}"),
        other => panic!("expected UnknownCall, got {other:?}"),
    }
    let events = store.events_since(s.business, 0, 100).await.unwrap();
    let audit = events
        .iter()
        .find(|e| e.kind == StreamEventKind::WebhookRejected)
        .expect("audit event");
    assert_eq!(audit.data["vendor_call_id"], "NOPE");
    assert!(
        store
            .calls(s.business, &CallListQuery::default())
            .await
            .unwrap()
            .calls
            .is_empty(),
        "nothing half-written"
    );
    // Refused events are not remembered as seen: once the call exists, a retry applies.
    let mut retry = inbound("NOPE", "x0", 900, CallStatus::Ringing, "+14155550100");
    retry.status = Some(CallStatus::Ringing);
    store.ingest_call_event(&p, &retry).await.unwrap();
    assert_eq!(
        store.ingest_call_event(&p, &stray).await.unwrap().outcome,
        IngestOutcome::Updated
    );
}

async fn transcripts_are_idempotent_and_scoped(store: Arc<dyn Store>) {
    let s1 = seed(&*store, 1).await;
    let s2 = seed(&*store, 2).await;
    let p1 = provider_row(&*store, "sim-1").await;
    let p2 = provider_row(&*store, "sim-2").await;
    let call = store
        .ingest_call_event(&p1, &inbound("T1", "t1", 1_000, CallStatus::Answered, "+14155550100"))
        .await
        .unwrap();
    let turn = |seq, text: &str| TranscriptTurnIn {
        role: TranscriptRole::Caller,
        content: text.into(),
        occurred_at: 1_000 + seq,
        sequence: seq,
    };
    let turns = [turn(1, "second"), turn(0, "first")];
    assert_eq!(store.ingest_transcript(&p1, &call.call_sid, &turns).await.unwrap(), 2);
    assert_eq!(
        store.ingest_transcript(&p1, &call.call_sid, &turns).await.unwrap(),
        0,
        "redelivery stores nothing"
    );
    let got = store.transcript(s1.business, &call.call_sid).await.unwrap();
    assert_eq!(
        got.iter().map(|t| t.content.as_str()).collect::<Vec<_>>(),
        ["first", "second"]
    );
    // Another business cannot add to or read this call's transcript.
    assert!(matches!(
        store.ingest_transcript(&p2, &call.call_sid, &turns).await,
        Err(StoreError::UnknownCall(_))
    ));
    assert!(store.transcript(s2.business, &call.call_sid).await.unwrap().is_empty());
}

async fn actions_follow_the_state_machine_and_claims(store: Arc<dyn Store>) {
    let s = seed(&*store, 1).await;
    let p = provider_row(&*store, "sim-1").await;
    let (alice, bob, sam) = (principal(&s, "alice"), principal(&s, "bob"), principal(&s, "sam"));
    let call = store
        .ingest_call_event(&p, &inbound("A1", "a1", 1_000, CallStatus::Ringing, "+14155550100"))
        .await
        .unwrap();
    let sid = &call.call_sid;
    assert!(matches!(
        store.begin_action(&alice, sid, CallAction::Hold, None).await,
        Err(StoreError::IllegalTransition {
            action: CallAction::Hold,
            status: CallStatus::Ringing
        })
    ));
    let rec = store.begin_action(&alice, sid, CallAction::Answer, None).await.unwrap();
    assert_eq!(rec.agent_id, Some(alice.agent_id));
    assert!(matches!(
        store.begin_action(&bob, sid, CallAction::Answer, None).await,
        Err(StoreError::Conflict(_))
    ));
    store
        .ingest_call_event(&p, &inbound("A1", "a2", 2_000, CallStatus::Answered, "+14155550100"))
        .await
        .unwrap();
    assert!(matches!(
        store.begin_action(&bob, sid, CallAction::Hold, None).await,
        Err(StoreError::Forbidden(_))
    ));
    store
        .begin_action(&sam, sid, CallAction::Hold, None)
        .await
        .expect("a supervisor may act on any call");
    let to_nobody = TransferTarget::Agent(switchboard_core::AgentId::try_from(9_999).unwrap());
    assert!(matches!(
        store
            .begin_action(&alice, sid, CallAction::Transfer, Some(&to_nobody))
            .await,
        Err(StoreError::Invalid(_))
    ));
    let to_bob = TransferTarget::Agent(bob.agent_id);
    let rec = store
        .begin_action(&alice, sid, CallAction::Transfer, Some(&to_bob))
        .await
        .unwrap();
    assert_eq!(
        rec.transfer_to.as_deref(),
        Some(format!("agent:{}", bob.agent_id).as_str())
    );
    // The provider confirms: the gateway hands the call to bob.
    store
        .ingest_call_event(&p, &inbound("A1", "a3", 3_000, CallStatus::Transferred, "+14155550100"))
        .await
        .unwrap();
    let rec = store.call(s.business, sid).await.unwrap().unwrap();
    assert_eq!(
        (rec.status, rec.agent_id),
        (CallStatus::Transferred, Some(bob.agent_id))
    );
    store
        .ingest_call_event(&p, &inbound("A1", "a4", 4_000, CallStatus::Completed, "+14155550100"))
        .await
        .unwrap();
    let before = store.call(s.business, sid).await.unwrap().unwrap();
    assert!(matches!(
        store.begin_action(&bob, sid, CallAction::Hold, None).await,
        Err(StoreError::IllegalTransition { .. })
    ));
    assert_eq!(
        store.call(s.business, sid).await.unwrap().unwrap(),
        before,
        "a refused action writes nothing"
    );
    let kinds: Vec<_> = store
        .events_since(s.business, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == StreamEventKind::CallAction).count(),
        3,
        "answer, hold, transfer logged"
    );
}

async fn outbound_record_exists_before_the_provider_answers(store: Arc<dyn Store>) {
    let s = seed(&*store, 1).await;
    let p = provider_row(&*store, "sim-1").await;
    let sid = switchboard_gateway::new_call_sid();
    let mut rec = CallRecord::outbound(
        sid.clone(),
        s.business,
        "+14155550100".into(),
        "+14155557777".into(),
        1_000,
    );
    rec.agent_id = Some(s.agent("alice"));
    rec.lead_id = Some(s.leads[3]);
    rec.provider_id = Some(p.id);
    store.create_outbound(&rec).await.unwrap();
    let stored = store.call(s.business, &sid).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.direction),
        (CallStatus::Queued, Direction::Outbound)
    );
    assert_eq!(
        store.lead(s.business, s.leads[3]).await.unwrap().unwrap().call_sid,
        Some(sid.clone())
    );
    let failed = NormalizedCallEvent {
        call_sid: Some(sid.clone()),
        status: Some(CallStatus::Failed),
        error: Some(switchboard_core::CallError::new(
            CallErrorCode::InvalidNumber,
            "not in service",
        )),
        ..NormalizedCallEvent::new("initiate-failed", 1_100)
    };
    store.ingest_call_event(&p, &failed).await.unwrap();
    let done = store.call(s.business, &sid).await.unwrap().unwrap();
    assert_eq!(done.status, CallStatus::Failed);
    assert_eq!(done.error.as_ref().map(|e| e.code), Some(CallErrorCode::InvalidNumber));
    assert!(
        store.queue(s.business).await.unwrap().is_empty(),
        "outbound calls are not in the inbound queue"
    );
}

async fn history_pages_and_events_resume_in_order(store: Arc<dyn Store>) {
    let s = seed(&*store, 1).await;
    let p = provider_row(&*store, "sim-1").await;
    for i in 0..7 {
        store
            .ingest_call_event(
                &p,
                &inbound(
                    &format!("H{i}"),
                    &format!("h{i}"),
                    1_000 + i,
                    CallStatus::Ringing,
                    "+14155550100",
                ),
            )
            .await
            .unwrap();
    }
    let page1 = store
        .calls(
            s.business,
            &CallListQuery {
                limit: Some(3),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let page2 = store
        .calls(
            s.business,
            &CallListQuery {
                limit: Some(3),
                before: page1.next_before.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let page3 = store
        .calls(
            s.business,
            &CallListQuery {
                limit: Some(3),
                before: page2.next_before.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let all: Vec<_> = [&page1, &page2, &page3]
        .iter()
        .flat_map(|p| p.calls.iter().map(|c| c.call_sid.clone()))
        .collect();
    assert_eq!(all.len(), 7);
    assert!(all.windows(2).all(|w| w[0] > w[1]), "newest first, no overlap");
    assert!(page3.next_before.is_none());
    let ringing = store
        .calls(
            s.business,
            &CallListQuery {
                status: Some(CallStatus::Answered),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(ringing.calls.is_empty());

    let events = store.events_since(s.business, 0, 100).await.unwrap();
    assert_eq!(events.len(), 7);
    // The business's own numbers: 1, 2, 3, ... with no gaps.
    let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
    assert_eq!(ids, (1..=7).collect::<Vec<i64>>());
    let resumed = store.events_since(s.business, events[3].id, 100).await.unwrap();
    assert_eq!(resumed, events[4..].to_vec());
    assert_eq!(store.last_event_id(s.business).await.unwrap(), events[6].id);
}

async fn agent_status_and_directory_reads(store: Arc<dyn Store>) {
    let s = seed(&*store, 1).await;
    let alice = principal(&s, "alice");
    let agent = store
        .set_agent_status(&alice, AgentStatus::Available, None)
        .await
        .unwrap();
    assert_eq!(agent.status, AgentStatus::Available);
    let agents = store.agents(s.business).await.unwrap();
    assert_eq!(agents.len(), 3);
    assert_eq!(
        agents.iter().find(|a| a.name == "alice").unwrap().status,
        AgentStatus::Available
    );
    let numbers = store.numbers(s.business).await.unwrap();
    assert_eq!(numbers.len(), 3);
    assert!(numbers[0].is_default && numbers[0].capabilities.outbound);
    assert!(numbers.iter().any(|n| !n.capabilities.outbound));
    let ev = store.events_since(s.business, 0, 10).await.unwrap();
    assert_eq!(ev.last().map(|e| e.kind), Some(StreamEventKind::AgentStatus));
    let by_phone = store
        .leads(
            s.business,
            &LeadQuery {
                phone: Some("+16285551001".into()),
                limit: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(by_phone.len(), 1);
    let token = switchboard_gateway::demo::issue_token(&*store, alice.agent_id)
        .await
        .unwrap();
    let hash = switchboard_gateway::auth::hash_token(&token);
    let now = switchboard_gateway::now_ms();
    let TokenCheck::Valid(who) = store.authenticate(&hash, now).await.unwrap() else {
        panic!("a fresh token is valid");
    };
    assert_eq!(
        (who.business_id, who.agent_id, who.role),
        (alice.business_id, alice.agent_id, alice.role)
    );
    assert_eq!(store.authenticate("nope", now).await.unwrap(), TokenCheck::Unknown);
    // It expires after its lifetime, and a revoked token is refused before that.
    let later = now + i64::from(switchboard_gateway::auth::DEFAULT_TOKEN_TTL_DAYS) * 86_400_000 + 1;
    assert_eq!(store.authenticate(&hash, later).await.unwrap(), TokenCheck::Expired);
    store.revoke_token(s.business, who.token_id, now).await.unwrap();
    assert_eq!(store.authenticate(&hash, now).await.unwrap(), TokenCheck::Revoked);
    let listed = store.tokens(s.business).await.unwrap();
    assert!(listed.iter().any(|t| t.id == who.token_id && t.revoked_at == Some(now)));
}

async fn wrap_up_is_saved_once_per_idempotency_key(store: Arc<dyn Store>) {
    let s = seed(&*store, 1).await;
    let p = provider_row(&*store, "sim-1").await;
    let (alice, bob) = (principal(&s, "alice"), principal(&s, "bob"));
    let call = store
        .ingest_call_event(&p, &inbound("WU", "wu1", 1_000, CallStatus::Ringing, "+14155550100"))
        .await
        .unwrap();
    store
        .begin_action(&alice, &call.call_sid, CallAction::Answer, None)
        .await
        .unwrap();
    store
        .ingest_call_event(&p, &inbound("WU", "wu2", 2_000, CallStatus::Completed, "+14155550100"))
        .await
        .unwrap();
    assert!(matches!(
        store.wrap_up(&bob, &call.call_sid, "sale", None, None).await,
        Err(StoreError::Forbidden(_))
    ));
    let before = store.events_since(s.business, 0, 100).await.unwrap().len();
    let rec = store
        .wrap_up(
            &alice,
            &call.call_sid,
            "follow_up",
            Some("call back Tuesday"),
            Some("k-1"),
        )
        .await
        .unwrap();
    assert_eq!(
        (rec.disposition.as_deref(), rec.notes.as_deref()),
        (Some("follow_up"), Some("call back Tuesday"))
    );
    let again = store
        .wrap_up(&alice, &call.call_sid, "sale", Some("replayed"), Some("k-1"))
        .await
        .unwrap();
    assert_eq!(
        again.disposition.as_deref(),
        Some("follow_up"),
        "a replay with the same key changes nothing"
    );
    assert_eq!(
        store.events_since(s.business, 0, 100).await.unwrap().len(),
        before + 1,
        "one event for one wrap-up"
    );
    let stored = store.call(s.business, &call.call_sid).await.unwrap().unwrap();
    assert_eq!(stored.notes.as_deref(), Some("call back Tuesday"));
    let a1 = store
        .set_agent_status(&alice, AgentStatus::WrapUp, Some("s-1"))
        .await
        .unwrap();
    let a2 = store
        .set_agent_status(&alice, AgentStatus::Away, Some("s-1"))
        .await
        .unwrap();
    assert_eq!((a1.status, a2.status), (AgentStatus::WrapUp, AgentStatus::WrapUp));
}
