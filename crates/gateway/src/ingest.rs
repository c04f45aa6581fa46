//! Where provider reports enter the store: the same function for webhooks and in-process
//! providers, so both take the one path.
//!
//! Everything a provider says is checked here first ([`check_event`], [`check_turn`]):
//! a provider's clock, ids and texts are outside input, even when signed. A time far from
//! now is either a broken clock or an attack on the arithmetic downstream; a NUL byte is a
//! text PostgreSQL cannot store. Both get a clear 4xx, never a panic or a 5xx.

use switchboard_core::api::TranscriptTurnIn;
use switchboard_core::{CallSid, NormalizedCallEvent};
use switchboard_telephony::{ConversationReport, ProviderEvent};

use crate::store::{ProviderRow, Store, StoreError, StoreResult};

/// How far in the past a provider's event time may lie. Carriers retry webhooks for hours
/// and a PBX that reconnects replays what it missed; a month covers both with room.
pub const MAX_EVENT_AGE_MS: i64 = 30 * 24 * 60 * 60 * 1000;
/// How far ahead of our clock a provider's clock may run.
pub const MAX_CLOCK_AHEAD_MS: i64 = 15 * 60 * 1000;
/// The longest talk time a provider may report (a week: no call lasts longer).
pub const MAX_DURATION_SECS: i64 = 7 * 24 * 60 * 60;
/// Longest id, number or code a provider may send.
pub const MAX_ID_LEN: usize = 256;
/// Longest free text (messages, URLs, transcript turns).
pub const MAX_TEXT_LEN: usize = 16 * 1024;

/// Is `at` (ms since the epoch) a time a provider may report now?
pub fn check_time(what: &str, at: i64, now: i64) -> Result<(), String> {
    let earliest = now.saturating_sub(MAX_EVENT_AGE_MS);
    let latest = now.saturating_add(MAX_CLOCK_AHEAD_MS);
    if (earliest..=latest).contains(&at) {
        Ok(())
    } else {
        Err(format!(
            "{what} {at} is not a plausible time: it must be milliseconds since the Unix epoch, \
             at most 30 days before and 15 minutes after the gateway's clock ({now})"
        ))
    }
}

fn check_text(what: &str, value: &str, max: usize) -> Result<(), String> {
    if value.len() > max {
        return Err(format!(
            "{what} is {} bytes long; at most {max} are accepted",
            value.len()
        ));
    }
    if value.contains('\0') {
        return Err(format!("{what} contains a NUL character"));
    }
    Ok(())
}

/// Check a provider event before it touches the database.
pub fn check_event(ev: &NormalizedCallEvent, now: i64) -> Result<(), String> {
    check_time("occurred_at", ev.occurred_at, now)?;
    if let Some(d) = ev.duration_secs {
        if !(0..=MAX_DURATION_SECS).contains(&d) {
            return Err(format!("duration_secs {d} must be between 0 and {MAX_DURATION_SECS}"));
        }
    }
    if ev.event_id.trim().is_empty() {
        return Err("event_id must not be empty".into());
    }
    let ids = [
        ("event_id", Some(ev.event_id.as_str())),
        ("telephony_vendor", ev.telephony_vendor.as_ref().map(|v| v.as_str())),
        ("vendor_call_id", ev.vendor_call_id.as_deref()),
        ("voice_platform", ev.voice_platform.as_ref().map(|v| v.as_str())),
        ("voice_platform_call_id", ev.voice_platform_call_id.as_deref()),
        ("conversation_id", ev.conversation_id.as_deref()),
        ("from", ev.from.as_deref()),
        ("to", ev.to.as_deref()),
        (
            "error.provider_code",
            ev.error.as_ref().and_then(|e| e.provider_code.as_deref()),
        ),
    ];
    for (what, value) in ids {
        if let Some(v) = value {
            check_text(what, v, MAX_ID_LEN)?;
        }
    }
    let texts = [
        ("recording_url", ev.recording_url.as_deref()),
        ("error.message", ev.error.as_ref().map(|e| e.message.as_str())),
        (
            "error.provider_message",
            ev.error.as_ref().and_then(|e| e.provider_message.as_deref()),
        ),
    ];
    for (what, value) in texts {
        if let Some(v) = value {
            check_text(what, v, MAX_TEXT_LEN)?;
        }
    }
    Ok(())
}

/// Check a transcript turn before it touches the database.
pub fn check_turn(turn: &TranscriptTurnIn, now: i64) -> Result<(), String> {
    check_time("occurred_at", turn.occurred_at, now)?;
    check_text("content", &turn.content, MAX_TEXT_LEN)
}

/// Store one provider report; returns the call it concerns. The store commits before this
/// returns, so a webhook acknowledged after it is durable.
pub async fn ingest(store: &dyn Store, provider: &ProviderRow, ev: &ProviderEvent) -> StoreResult<Option<CallSid>> {
    let started = std::time::Instant::now();
    let stored = store_report(store, provider, ev).await;
    if matches!(stored, Ok(Some(_))) {
        crate::metrics::ingest_commit(started.elapsed());
    }
    stored
}

async fn store_report(store: &dyn Store, provider: &ProviderRow, ev: &ProviderEvent) -> StoreResult<Option<CallSid>> {
    let now = crate::now_ms();
    match ev {
        ProviderEvent::Call(ev) => {
            check_event(ev, now).map_err(StoreError::Invalid)?;
            Ok(Some(store.ingest_call_event(provider, ev).await?.call_sid))
        }
        ProviderEvent::Transcript { call_sid, turn } => {
            check_turn(turn, now).map_err(StoreError::Invalid)?;
            store
                .ingest_transcript(provider, call_sid, std::slice::from_ref(turn))
                .await?;
            Ok(Some(call_sid.clone()))
        }
        ProviderEvent::Conversation(report) => ingest_conversation(store, provider, report, now).await,
        _ => Ok(None),
    }
}

/// A voice platform's account of a finished conversation: find the call by the `call_sid`
/// the platform echoed, check it is the conversation that call started (its
/// `conversation_id`), then store the turns and the outcome. A report that fails either
/// step is refused with 400 and an audit event, and nothing of it is stored.
async fn ingest_conversation(
    store: &dyn Store,
    provider: &ProviderRow,
    report: &ConversationReport,
    now: i64,
) -> StoreResult<Option<CallSid>> {
    let refuse = |reason: String| async move {
        let what = serde_json::json!({ "provider": provider.name, "call_sid": report.call_sid,
            "conversation_id": report.conversation_id, "reason": reason });
        store.audit_rejected(provider, what).await?;
        Err::<Option<CallSid>, _>(StoreError::BadReport(reason))
    };
    let Some(sid) = &report.call_sid else {
        return refuse(format!(
            "conversation {} carries no call_sid in its dynamic variables",
            report.conversation_id
        ))
        .await;
    };
    let Some(rec) = store.call(provider.business_id, sid).await? else {
        return refuse(format!("no call {sid} in this business")).await;
    };
    match rec.conversation_id.as_deref() {
        None => {
            return refuse(format!(
                "call {sid} has no conversation_id yet: it was not handed to an AI agent, or its start is not stored yet"
            ))
            .await;
        }
        Some(c) if c != report.conversation_id => {
            return refuse(format!(
                "call {sid} is conversation {c}, not {}",
                report.conversation_id
            ))
            .await;
        }
        Some(_) => {}
    }
    for turn in &report.turns {
        check_turn(turn, now).map_err(StoreError::Invalid)?;
    }
    check_event(&report.outcome, now).map_err(StoreError::Invalid)?;
    // Two commits; a failure between them is a 5xx, and the platform's retry converges
    // (turns are keyed by sequence, the outcome by its event id).
    if !report.turns.is_empty() {
        store.ingest_transcript(provider, sid, &report.turns).await?;
    }
    store.ingest_call_event(provider, &report.outcome).await?;
    Ok(Some(sid.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_780_000_000_000;

    #[test]
    fn times_far_from_now_are_refused_without_overflow() {
        for at in [
            i64::MIN,
            i64::MIN + 1,
            -1,
            0,
            NOW - MAX_EVENT_AGE_MS - 1,
            NOW + MAX_CLOCK_AHEAD_MS + 1,
            i64::MAX,
        ] {
            let err = check_event(&NormalizedCallEvent::new("e", at), NOW).expect_err("refused");
            assert!(err.contains("not a plausible time"), "{err}");
        }
        for at in [NOW - MAX_EVENT_AGE_MS, NOW, NOW + MAX_CLOCK_AHEAD_MS] {
            check_event(&NormalizedCallEvent::new("e", at), NOW).expect("accepted");
        }
        // A clock near the ends of i64 must not overflow either.
        assert!(check_time("t", 0, i64::MAX).is_err());
        assert!(check_time("t", 0, i64::MIN).is_err());
    }

    #[test]
    fn nonsense_durations_nul_bytes_and_huge_ids_are_refused() {
        let ev = |f: &dyn Fn(&mut NormalizedCallEvent)| {
            let mut e = NormalizedCallEvent::new("e", NOW);
            f(&mut e);
            check_event(&e, NOW)
        };
        assert!(ev(&|e| e.duration_secs = Some(-1)).is_err());
        assert!(ev(&|e| e.duration_secs = Some(i64::MAX)).is_err());
        assert!(ev(&|e| e.duration_secs = Some(3600)).is_ok());
        assert!(
            ev(&|e| e.vendor_call_id = Some("a\0b".into()))
                .unwrap_err()
                .contains("vendor_call_id")
        );
        assert!(
            ev(&|e| e.event_id = "x".repeat(MAX_ID_LEN + 1))
                .unwrap_err()
                .contains("event_id")
        );
        assert!(ev(&|e| e.event_id = " ".into()).is_err());
        let turn = TranscriptTurnIn {
            role: switchboard_core::TranscriptRole::Caller,
            content: "hi\0".into(),
            occurred_at: NOW,
            sequence: 1,
        };
        assert!(check_turn(&turn, NOW).is_err());
    }
}
