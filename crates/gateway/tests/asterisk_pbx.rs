//! An Asterisk PBX in the gateway, over the manager interface and as FreePBX webhooks.
//!
//! The PBX here is a **scripted AMI peer** (`ami_peer`): Asterisk is not in Debian 12, so
//! it stands in, built from the wire format in protocols.md §3; our client's reading of
//! real Asterisk output is checked separately against panoramisk's recorded transcripts.
//! The gateway, its store (SQLite) and our AMI session are real, over loopback TCP.
//!
//! Checked: a caller queued on the PBX rings in the gateway's queue with the PBX's
//! `Linkedid`; answering redirects the caller to the agent's extension and tells the
//! console to answer on that phone; hold parks both legs and resume bridges them; keys,
//! recording (URL from the configured base) and a supervisor's listen / whisper / barge
//! (ChanSpy `qE` / `qwE` / `qBE`) are the AMI actions the PBX takes; end hangs up with
//! cause 16. Blind and attended transfers end `transferred` then `completed`. Outbound
//! calls ring the agent's phone first with the business number as caller id, and end with
//! the PBX's cause in our terms (17 busy, 19 no answer, 34 congestion); a queued caller
//! hanging up is abandoned. The PBX dropping the connection mid-call: calls that ended
//! meanwhile end, calls that started ring, live ones go on. A PBX that stops answering the
//! keep-alive is reconnected. A refused login is reported by the provider check. FreePBX
//! webhooks from outside the allow-list (403) or with a wrong secret (401) store nothing.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod ami_peer;
mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use ami_peer::Pbx;
use serde_json::json;
use support::*;
use switchboard_client::Client;
use switchboard_core::api::{CallListQuery, OutboundCallRequest, QueueEntry, RecordingAction, TransferTarget};
use switchboard_core::{
    AgentStatus, CallErrorCode, CallRecord, CallSid, CallStatus, ConsultStep, MediaJoin, MonitorMode, NumberId,
    TelephonyVendor,
};

const NUMBER: &str = "+14155550177";

/// A caller on trunk channel `n` dials the business number and joins the PBX's queue
/// `sales`; returns the caller's number as the gateway stores it.
fn queue_caller(pbx: &Pbx, n: u32) -> String {
    let (uid, chan, from) = (
        format!("{n}.1"),
        format!("PJSIP/trunk-{n:08}"),
        format!("1628555{n:04}"),
    );
    pbx.emit(&[
        ("Event", "Newchannel"),
        ("Channel", &chan),
        ("ChannelState", "4"),
        ("CallerIDNum", &from),
        ("Exten", "14155550177"),
        ("Context", "from-trunk"),
        ("Uniqueid", &uid),
        ("Linkedid", &uid),
    ]);
    pbx.emit(&[
        ("Event", "QueueCallerJoin"),
        ("Channel", &chan),
        ("Uniqueid", &uid),
        ("Linkedid", &uid),
        ("Queue", "sales"),
        ("Position", "1"),
    ]);
    format!("+{from}")
}

/// `from`'s call once it is queued, as `client` sees the queue (20 s at most). A call
/// shows as ringing from its Newchannel until its QueueCallerJoin is handled.
async fn queued(client: &Client, from: &str) -> QueueEntry {
    eventually(20, "the caller in the queue", || async {
        client
            .queue()
            .await
            .ok()?
            .calls
            .into_iter()
            .find(|q| q.call.from == from && q.call.status == CallStatus::Queued)
    })
    .await
}

struct World {
    _db: TestDb,
    gw: TestGateway,
    http: reqwest::Client,
    admin: String,
    alice: Client,
    sam: Client,
    pbx: Pbx,
    number: NumberId,
}

fn config(port: u16, password: &str) -> serde_json::Value {
    json!({
        "amiHost": "127.0.0.1", "amiPort": port,
        "amiUsername": "switchboard", "amiPassword": password,
        "pingSeconds": 2, "reconnectMaxSeconds": 2,
        "agentContext": "agents", "holdContext": "switchboard-hold", "outboundContext": "outbound",
        "extensions": { "alice": "1001", "sam": "1009" },
        "recordingsBaseUrl": "https://pbx.example.test/recordings/"
    })
}

impl World {
    async fn start() -> Self {
        let db = TestDb::sqlite().await;
        let (gw, seeded) = TestGateway::start(&db, 1).await;
        let seeded = seeded.into_iter().next().unwrap();
        let http = reqwest::Client::new();
        let admin = admin_token(&gw, &seeded).await;
        let alice = gw.client(&token(&*gw.store, &seeded, "alice").await);
        let sam = gw.client(&token(&*gw.store, &seeded, "sam").await);
        let pbx = Pbx::start("switchboard", "ami-s3cret").await;
        gw.add_secret("AMI_PASSWORD", "ami-s3cret");
        let provider = add_provider(
            &http,
            &gw,
            &admin,
            "pbx",
            "asterisk",
            config(pbx.port, "secret:AMI_PASSWORD"),
        )
        .await;
        let n = add_number(
            &http,
            &gw,
            &admin,
            json!({ "e164": NUMBER, "label": "PBX line", "provider_id": provider, "inbound": true, "outbound": true }),
        )
        .await;
        alice.set_status(AgentStatus::Available).await.unwrap();
        // The number reaches the provider with a config reload; its session logs in (MD5).
        eventually(20, "the gateway logged in to the PBX", || async {
            pbx.connected().then_some(())
        })
        .await;
        Self {
            _db: db,
            gw,
            http,
            admin,
            alice,
            sam,
            pbx,
            number: serde_json::from_value(n["id"].clone()).unwrap(),
        }
    }

    async fn wait_call(&self, sid: &CallSid, what: &str, f: impl Fn(&CallRecord) -> bool) -> CallRecord {
        eventually(20, what, || async {
            let d = self.alice.call(sid).await.ok()?;
            f(&d.call).then_some(d.call)
        })
        .await
    }

    async fn status(&self, sid: &CallSid, s: CallStatus) -> CallRecord {
        self.wait_call(sid, &format!("the call {s}"), |c| c.status == s).await
    }

    /// A caller on trunk channel `n` dials the business number and joins the PBX's queue;
    /// the call as it rings in the gateway's queue.
    async fn caller_queues(&self, n: u32) -> CallRecord {
        let want = queue_caller(&self.pbx, n);
        let uid = format!("{n}.1");
        let q = queued(&self.alice, &want).await;
        assert_eq!(q.call.to, NUMBER);
        assert_eq!(q.call.telephony_vendor, Some(TelephonyVendor::Asterisk));
        assert_eq!(q.call.vendor_call_id.as_deref(), Some(uid.as_str()));
        q.call
    }

    /// Alice answers call `n`: the PBX is asked to redirect the caller to her extension,
    /// and plays the agent's phone answering. Returns her phone's channel.
    async fn alice_answers(&mut self, call: &CallRecord, n: u32) -> String {
        let reply = self.alice.answer(&call.call_sid).await.unwrap();
        assert_eq!(
            reply.media,
            MediaJoin::External {
                extension: "1001".into()
            }
        );
        let a = self.pbx.action().await;
        let chan = format!("PJSIP/trunk-{n:08}");
        assert_eq!(
            (
                a.get("Action"),
                a.get("Channel"),
                a.get("Context"),
                a.get("Exten"),
                a.get("Priority")
            ),
            (
                Some("Redirect"),
                Some(chan.as_str()),
                Some("agents"),
                Some("1001"),
                Some("1")
            )
        );
        let (uid, agent, agent_uid) = (format!("{n}.1"), format!("PJSIP/1001-{n:08}"), format!("{n}.2"));
        let pbx = &self.pbx;
        pbx.emit(&[
            ("Event", "QueueCallerLeave"),
            ("Channel", &chan),
            ("Uniqueid", &uid),
            ("Linkedid", &uid),
            ("Queue", "sales"),
        ]);
        pbx.emit(&[
            ("Event", "Newchannel"),
            ("Channel", &agent),
            ("Exten", "1001"),
            ("Uniqueid", &agent_uid),
            ("Linkedid", &uid),
        ]);
        pbx.emit(&[
            ("Event", "DialBegin"),
            ("Channel", &chan),
            ("Uniqueid", &uid),
            ("Linkedid", &uid),
            ("DestChannel", &agent),
            ("DestUniqueid", &agent_uid),
            ("DestLinkedid", &uid),
            ("DialString", "1001"),
        ]);
        pbx.emit(&[
            ("Event", "DialEnd"),
            ("Channel", &chan),
            ("Uniqueid", &uid),
            ("Linkedid", &uid),
            ("DestChannel", &agent),
            ("DestUniqueid", &agent_uid),
            ("DialStatus", "ANSWER"),
        ]);
        self.bridge(n, &[(&chan, &uid), (&agent, &agent_uid)]);
        self.status(&call.call_sid, CallStatus::Answered).await;
        agent
    }

    fn bridge(&self, n: u32, legs: &[(&str, &str)]) {
        let (linked, bridge) = (format!("{n}.1"), format!("bridge-{n}"));
        for (chan, uid) in legs {
            self.pbx.emit(&[
                ("Event", "BridgeEnter"),
                ("BridgeUniqueid", &bridge),
                ("BridgeType", "basic"),
                ("Channel", chan),
                ("Uniqueid", uid),
                ("Linkedid", &linked),
            ]);
        }
    }

    fn hangup(&self, chan: &str, uid: &str, linked: &str, cause: &str, text: &str) {
        self.pbx.emit(&[
            ("Event", "Hangup"),
            ("Channel", chan),
            ("Uniqueid", uid),
            ("Linkedid", linked),
            ("Cause", cause),
            ("Cause-txt", text),
        ]);
    }

    /// Alice calls `to`; returns the call and the Originate the PBX got.
    async fn alice_calls(&mut self, to: &str) -> (CallRecord, switchboard_telephony::asterisk::frame::Message) {
        let call = self
            .alice
            .place_call(&OutboundCallRequest {
                to: to.parse().unwrap(),
                from_number_id: self.number,
                lead_id: None,
                ai_agent: None,
            })
            .await
            .unwrap()
            .call;
        let o = self.pbx.action().await;
        (call, o)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pbx_call_is_queued_answered_held_recorded_monitored_and_ended() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let mut w = World::start().await;
        let call = w.caller_queues(1).await;
        let agent = w.alice_answers(&call, 1).await;
        let sid = &call.call_sid;
        let caller = "PJSIP/trunk-00000001";

        // Hold parks both phones in the hold context; resume bridges them again.
        w.alice.hold(sid).await.unwrap();
        let a = w.pbx.action().await;
        assert_eq!(
            (a.get("Action"), a.get("Channel"), a.get("Context"), a.get("Exten")),
            (Some("Redirect"), Some(caller), Some("switchboard-hold"), Some("hold"))
        );
        assert_eq!(
            (a.get("ExtraChannel"), a.get("ExtraExten")),
            (Some(agent.as_str()), Some("wait"))
        );
        for (c, u) in [(caller, "1.1"), (agent.as_str(), "1.2")] {
            w.pbx.emit(&[
                ("Event", "BridgeLeave"),
                ("BridgeUniqueid", "bridge-1"),
                ("Channel", c),
                ("Uniqueid", u),
                ("Linkedid", "1.1"),
            ]);
        }
        w.status(sid, CallStatus::OnHold).await;
        w.alice.resume(sid).await.unwrap();
        let a = w.pbx.action().await;
        assert_eq!(
            (a.get("Action"), a.get("Channel1"), a.get("Channel2")),
            (Some("Bridge"), Some(caller), Some(agent.as_str()))
        );
        w.bridge(1, &[(caller, "1.1"), (&agent, "1.2")]);
        w.status(sid, CallStatus::Answered).await;

        // Keys go to the caller, one PlayDTMF per digit; bad keys are refused before the PBX.
        w.alice.dtmf(sid, "12#").await.unwrap();
        let mut digits = String::new();
        for _ in 0..3 {
            let a = w.pbx.action().await;
            assert_eq!((a.get("Action"), a.get("Channel")), (Some("PlayDTMF"), Some(caller)));
            digits.push_str(a.get("Digit").unwrap());
        }
        assert_eq!(digits, "12#");
        assert!(w.alice.dtmf(sid, "1x").await.is_err());

        // Recording: MixMonitor on the caller's channel; the URL comes with its stop.
        w.alice.recording(sid, RecordingAction::Start).await.unwrap();
        let a = w.pbx.action().await;
        assert_eq!(
            (a.get("Action"), a.get("Channel"), a.get("Options")),
            (Some("MixMonitor"), Some(caller), Some("b"))
        );
        let file = a.get("File").unwrap().to_owned();
        assert!(file.starts_with(sid.as_str()) && file.ends_with(".wav"), "{file}");
        w.pbx.emit(&[
            ("Event", "MixMonitorStart"),
            ("Channel", caller),
            ("Uniqueid", "1.1"),
            ("Linkedid", "1.1"),
        ]);
        w.alice.recording(sid, RecordingAction::Stop).await.unwrap();
        let a = w.pbx.action().await;
        assert_eq!(
            (a.get("Action"), a.get("Channel")),
            (Some("StopMixMonitor"), Some(caller))
        );
        w.pbx.emit(&[
            ("Event", "MixMonitorStop"),
            ("Channel", caller),
            ("Uniqueid", "1.1"),
            ("Linkedid", "1.1"),
        ]);
        let url = format!("https://pbx.example.test/recordings/{file}");
        w.wait_call(sid, "the recording's URL", |c| {
            c.recording_url.as_deref() == Some(url.as_str())
        })
        .await;

        // The supervisor: ChanSpy on the agent's phone from the supervisor's extension;
        // switching mode replaces the spy.
        let mut spy = None::<String>;
        for (mode, options) in [
            (MonitorMode::Listen, "qE"),
            (MonitorMode::Whisper, "qwE"),
            (MonitorMode::Barge, "qBE"),
        ] {
            if spy.is_none() {
                let reply = w.sam.monitor(sid, mode).await.unwrap();
                assert_eq!(
                    reply.media,
                    MediaJoin::External {
                        extension: "1009".into()
                    }
                );
            } else {
                // The console keeps saying where to listen; the phone rings once more.
                w.sam.switch_monitor(sid, mode).await.unwrap();
            }
            if let Some(old) = spy.take() {
                let h = w.pbx.action().await;
                assert_eq!(
                    (h.get("Action"), h.get("Channel")),
                    (Some("Hangup"), Some(old.as_str()))
                );
            }
            let o = w.pbx.action().await;
            assert_eq!(
                (o.get("Action"), o.get("Channel"), o.get("Application")),
                (Some("Originate"), Some("PJSIP/1009"), Some("ChanSpy"))
            );
            assert_eq!(o.get("Data"), Some(format!("{agent},{options}").as_str()));
            let (uid, name) = (o.get("ChannelId").unwrap().to_owned(), format!("PJSIP/1009-{options}"));
            w.pbx.emit(&[
                ("Event", "Newchannel"),
                ("Channel", &name),
                ("Exten", "s"),
                ("Uniqueid", &uid),
                ("Linkedid", &uid),
            ]);
            spy = Some(name);
        }

        // End: the caller's channel, cause 16; the record completes with its duration.
        w.alice.end(sid).await.unwrap();
        let a = w.pbx.action().await;
        assert_eq!(
            (a.get("Action"), a.get("Channel"), a.get("Cause")),
            (Some("Hangup"), Some(caller), Some("16"))
        );
        w.hangup(caller, "1.1", "1.1", "16", "Normal Clearing");
        w.hangup(&agent, "1.2", "1.1", "16", "Normal Clearing");
        let done = w.status(sid, CallStatus::Completed).await;
        assert_eq!(done.error, None);
        assert!(done.duration_secs.is_some(), "{done:?}");
    })
    .await
    .expect("finished within 2 minutes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pbx_transfers_blind_and_attended_and_outbound_causes() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let mut w = World::start().await;

        // Blind: BlindTransfer of the agent's channel into the outbound context.
        let call = w.caller_queues(2).await;
        let agent = w.alice_answers(&call, 2).await;
        w.alice
            .transfer(&call.call_sid, TransferTarget::Number("+15550001234".parse().unwrap()))
            .await
            .unwrap();
        let a = w.pbx.action().await;
        assert_eq!(
            (a.get("Action"), a.get("Channel"), a.get("Context"), a.get("Exten")),
            (
                Some("BlindTransfer"),
                Some(agent.as_str()),
                Some("outbound"),
                Some("+15550001234")
            )
        );
        w.pbx.emit(&[
            ("Event", "BlindTransfer"),
            ("Result", "Success"),
            ("TransfererChannel", &agent),
            ("TransfererUniqueid", "2.2"),
            ("TransfereeChannel", "PJSIP/trunk-00000002"),
            ("TransfereeUniqueid", "2.1"),
            ("IsExternal", "No"),
            ("Context", "outbound"),
            ("Extension", "+15550001234"),
        ]);
        w.status(&call.call_sid, CallStatus::Transferred).await;
        // The agent's phone leaves; the caller talks on, then hangs up.
        w.hangup(&agent, "2.2", "2.1", "16", "Normal Clearing");
        w.hangup("PJSIP/trunk-00000002", "2.1", "2.1", "16", "Normal Clearing");
        w.status(&call.call_sid, CallStatus::Completed).await;

        // Attended: Atxfer from the agent's phone; complete = the agent's phone hangs up.
        let call = w.caller_queues(3).await;
        let agent = w.alice_answers(&call, 3).await;
        w.alice
            .consult(&call.call_sid, TransferTarget::Number("+15550004321".parse().unwrap()))
            .await
            .unwrap();
        let a = w.pbx.action().await;
        assert_eq!(
            (a.get("Action"), a.get("Channel"), a.get("Context"), a.get("Exten")),
            (
                Some("Atxfer"),
                Some(agent.as_str()),
                Some("outbound"),
                Some("+15550004321")
            )
        );
        w.pbx.emit(&[
            ("Event", "Newchannel"),
            ("Channel", "PJSIP/carrier-3"),
            ("Exten", "+15550004321"),
            ("Uniqueid", "3.3"),
            ("Linkedid", "3.1"),
        ]);
        w.alice
            .consult_step(&call.call_sid, ConsultStep::Complete)
            .await
            .unwrap();
        let a = w.pbx.action().await;
        assert_eq!(
            (a.get("Action"), a.get("Channel")),
            (Some("Hangup"), Some(agent.as_str()))
        );
        w.pbx.emit(&[
            ("Event", "AttendedTransfer"),
            ("Result", "Success"),
            ("DestType", "Bridge"),
            ("OrigTransfererChannel", &agent),
            ("OrigTransfererUniqueid", "3.2"),
            ("TransfereeChannel", "PJSIP/trunk-00000003"),
            ("TransfereeUniqueid", "3.1"),
        ]);
        w.status(&call.call_sid, CallStatus::Transferred).await;
        w.hangup(&agent, "3.2", "3.1", "16", "Normal Clearing");
        w.hangup("PJSIP/trunk-00000003", "3.1", "3.1", "16", "Normal Clearing");
        w.hangup("PJSIP/carrier-3", "3.3", "3.1", "16", "Normal Clearing");
        w.status(&call.call_sid, CallStatus::Completed).await;

        // Outbound: the agent's phone first, with the business number as caller id, then
        // the customer; each interesting cause ends the call in our terms.
        for (to, cause, text, dial, status, code) in [
            (
                "+16285550141",
                "17",
                "User busy",
                "BUSY",
                CallStatus::Failed,
                CallErrorCode::Busy,
            ),
            (
                "+16285550142",
                "19",
                "User alerting, no answer",
                "NOANSWER",
                CallStatus::Missed,
                CallErrorCode::NoAnswer,
            ),
            (
                "+16285550143",
                "34",
                "Circuit/channel congestion",
                "CONGESTION",
                CallStatus::Failed,
                CallErrorCode::Unavailable,
            ),
        ] {
            let (call, o) = w.alice_calls(to).await;
            let linked = call.call_sid.as_str().to_owned();
            assert_eq!(call.vendor_call_id.as_deref(), Some(linked.as_str()));
            assert_eq!(
                (
                    o.get("Action"),
                    o.get("Channel"),
                    o.get("Context"),
                    o.get("Exten"),
                    o.get("ChannelId")
                ),
                (
                    Some("Originate"),
                    Some("PJSIP/1001"),
                    Some("outbound"),
                    Some(to),
                    Some(linked.as_str())
                )
            );
            assert_eq!(o.get("CallerID"), Some(format!("<{NUMBER}>").as_str()));
            let me = "PJSIP/1001-0000aaaa";
            let dest_uid = format!("{linked}-customer");
            w.pbx.emit(&[
                ("Event", "Newchannel"),
                ("Channel", me),
                ("Exten", "s"),
                ("Uniqueid", &linked),
                ("Linkedid", &linked),
            ]);
            w.pbx.emit(&[
                ("Event", "Newstate"),
                ("Channel", me),
                ("ChannelStateDesc", "Up"),
                ("Uniqueid", &linked),
                ("Linkedid", &linked),
            ]);
            w.pbx.emit(&[
                ("Event", "DialBegin"),
                ("Channel", me),
                ("Uniqueid", &linked),
                ("Linkedid", &linked),
                ("DestChannel", "PJSIP/carrier-0000bbbb"),
                ("DestUniqueid", &dest_uid),
                ("DestLinkedid", &linked),
            ]);
            w.hangup("PJSIP/carrier-0000bbbb", &dest_uid, &linked, cause, text);
            w.pbx.emit(&[
                ("Event", "DialEnd"),
                ("Channel", me),
                ("Uniqueid", &linked),
                ("Linkedid", &linked),
                ("DestChannel", "PJSIP/carrier-0000bbbb"),
                ("DestUniqueid", &dest_uid),
                ("DialStatus", dial),
            ]);
            w.hangup(me, &linked, &linked, "16", "Normal Clearing");
            let done = w
                .wait_call(&call.call_sid, "the outbound call's end and reason", |c| {
                    c.status == status && c.error.is_some()
                })
                .await;
            let e = done.error.unwrap();
            assert_eq!(
                (e.code, e.provider_code.as_deref(), e.provider_message.as_deref()),
                (code, Some(cause), Some(text))
            );
        }

        // A queued caller who hangs up is abandoned.
        let call = w.caller_queues(4).await;
        w.pbx.emit(&[
            ("Event", "QueueCallerAbandon"),
            ("Channel", "PJSIP/trunk-00000004"),
            ("Uniqueid", "4.1"),
            ("Linkedid", "4.1"),
            ("Queue", "sales"),
            ("HoldTime", "12"),
        ]);
        w.hangup("PJSIP/trunk-00000004", "4.1", "4.1", "16", "Normal Clearing");
        w.status(&call.call_sid, CallStatus::Abandoned).await;
    })
    .await
    .expect("finished within 2 minutes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pbx_goes_away_mid_call_and_comes_back_with_the_same_records() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let mut w = World::start().await;
        let a = w.caller_queues(6).await;
        let a_agent = w.alice_answers(&a, 6).await;
        let b = w.caller_queues(7).await;
        let logins = w.pbx.logins.load(Ordering::SeqCst);

        // The connection drops; while it is down call A ends, B is answered on another
        // phone, and C rings into the queue.
        w.pbx.drop_connection(true);
        eventually(10, "the gateway disconnected", || async {
            (!w.pbx.connected()).then_some(())
        })
        .await;
        w.pbx.offline(&[("Event", "Hangup"), ("Uniqueid", "6.1")]);
        w.pbx.offline(&[("Event", "Hangup"), ("Uniqueid", "6.2")]);
        w.pbx.offline(&[
            ("Event", "Newchannel"),
            ("Channel", "PJSIP/1002-00000007"),
            ("Uniqueid", "7.2"),
            ("Linkedid", "7.1"),
            ("Exten", "1002"),
        ]);
        w.pbx.offline(&[
            ("Event", "BridgeEnter"),
            ("BridgeUniqueid", "bridge-7"),
            ("Uniqueid", "7.1"),
        ]);
        w.pbx.offline(&[
            ("Event", "BridgeEnter"),
            ("BridgeUniqueid", "bridge-7"),
            ("Uniqueid", "7.2"),
        ]);
        w.pbx.offline(&[
            ("Event", "Newchannel"),
            ("Channel", "PJSIP/trunk-00000008"),
            ("Uniqueid", "8.1"),
            ("Linkedid", "8.1"),
            ("Exten", "14155550177"),
            ("CallerIDNum", "16285550008"),
        ]);
        w.pbx.offline(&[("Event", "QueueCallerJoin"), ("Uniqueid", "8.1")]);
        w.pbx.accept();

        // It reconnects by itself and resynchronises.
        eventually(20, "a new login", || async {
            (w.pbx.logins.load(Ordering::SeqCst) > logins).then_some(())
        })
        .await;
        let a_done = w.status(&a.call_sid, CallStatus::Completed).await;
        assert!(a_done.duration_secs.is_some(), "{a_done:?}");
        w.status(&b.call_sid, CallStatus::Answered).await;
        let c = eventually(20, "the call that rang meanwhile", || async {
            w.alice
                .queue()
                .await
                .ok()?
                .calls
                .into_iter()
                .find(|q| q.call.from == "+16285550008")
        })
        .await;
        assert_eq!(c.call.status, CallStatus::Queued);
        assert_eq!(c.call.vendor_call_id.as_deref(), Some("8.1"));

        // Events flow again: B ends live.
        w.hangup("PJSIP/trunk-00000007", "7.1", "7.1", "16", "Normal Clearing");
        w.status(&b.call_sid, CallStatus::Completed).await;
        drop(a_agent);

        // A PBX that stops answering the keep-alive is dropped and reconnected.
        let logins = w.pbx.logins.load(Ordering::SeqCst);
        w.pbx.answer_pings(false);
        eventually(30, "a reconnect after unanswered pings", || async {
            (w.pbx.logins.load(Ordering::SeqCst) > logins).then_some(())
        })
        .await;
        w.pbx.answer_pings(true);
        // And an action waits for the new connection rather than failing.
        w.alice
            .end(&c.call.call_sid)
            .await
            .unwrap_or_else(|e| panic!("end after reconnect: {e}"));
        let h = w.pbx.action().await;
        assert_eq!(
            (h.get("Action"), h.get("Channel")),
            (Some("Hangup"), Some("PJSIP/trunk-00000008"))
        );
    })
    .await
    .expect("finished within 2 minutes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_login_is_reported_and_freepbx_webhooks_need_address_and_secret() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let w = World::start().await;

        // A second PBX user with the wrong secret: the provider check says why.
        w.gw.add_secret("AMI_WRONG", "not-the-secret");
        let id = add_provider(
            &w.http,
            &w.gw,
            &w.admin,
            "pbx-wrong",
            "asterisk",
            config(w.pbx.port, "secret:AMI_WRONG"),
        )
        .await;
        let (code, body) = api(
            &w.http,
            reqwest::Method::POST,
            &format!("{}/v1/providers/{id}/check", w.gw.base),
            &w.admin,
            None,
        )
        .await;
        assert_eq!(code, 200, "{body}");
        assert_eq!(body["ok"], false, "{body}");
        let problems = body["problems"].to_string();
        assert!(
            problems.contains("refused the login") && problems.contains("Authentication failed"),
            "{problems}"
        );

        // FreePBX webhooks, allowed only from 10.0.0.0/8 at first.
        w.gw.add_secret("PBX_HOOK", "hook-s3cret");
        let hook_cfg = |allow: &str| {
            json!({
                "webhookSecret": "secret:PBX_HOOK", "webhookAllow": [allow],
                "agentContext": "agents", "holdContext": "switchboard-hold", "outboundContext": "outbound"
            })
        };
        let hook_id = add_provider(&w.http, &w.gw, &w.admin, "freepbx", "asterisk", hook_cfg("10.0.0.0/8")).await;
        let url = format!("{}/webhooks/pbx/freepbx", w.gw.base);
        let ring = json!({ "event": "ringing", "linkedid": "9.1", "from": "+16285550009", "to": NUMBER }).to_string();
        let post = |secret: &'static str, body: String| {
            let (http, url) = (w.http.clone(), url.clone());
            async move {
                let r = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-switchboard-secret", secret)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                (r.status().as_u16(), r.text().await.unwrap())
            }
        };
        let stored = || async {
            w.alice
                .calls(&CallListQuery::default())
                .await
                .unwrap()
                .calls
                .into_iter()
                .filter(|c| c.vendor_call_id.as_deref() == Some("9.1"))
                .count()
        };
        let (code, text) = post("hook-s3cret", ring.clone()).await;
        assert_eq!(code, 403, "from 127.0.0.1, outside the allow-list: {text}");
        assert!(text.contains("webhookAllow"), "{text}");
        assert_eq!(stored().await, 0);

        // Allow loopback: now the secret decides.
        let (code, body) = api(
            &w.http,
            reqwest::Method::PATCH,
            &format!("{}/v1/providers/{hook_id}", w.gw.base),
            &w.admin,
            Some(json!({ "config": hook_cfg("127.0.0.1/32") })),
        )
        .await;
        assert_eq!(code, 200, "{body}");
        provider_running_with(&w.http, &w.gw, &w.admin, "freepbx", |c| {
            c["webhookAllow"][0] == "127.0.0.1/32"
        })
        .await;
        let (code, text) = post("wrong-secret", ring.clone()).await;
        assert_eq!(code, 401, "{text}");
        let (code, _) = post("", ring.clone()).await;
        assert_eq!(code, 401);
        assert_eq!(stored().await, 0);

        // The right secret from an allowed address: stored, and a hangup before anyone
        // answered abandons it; a body that is not ours is refused with a reason.
        let (code, text) = post("hook-s3cret", ring).await;
        assert_eq!(code, 200, "{text}");
        assert_eq!(stored().await, 1);
        let (code, text) = post(
            "hook-s3cret",
            json!({ "event": "hangup", "linkedid": "9.1", "disposition": "NO ANSWER" }).to_string(),
        )
        .await;
        assert_eq!(code, 200, "{text}");
        let (code, text) = post(
            "hook-s3cret",
            json!({ "event": "exploded", "linkedid": "9.1" }).to_string(),
        )
        .await;
        assert_eq!(code, 422, "{text}");
        let q = w.alice.calls(&CallListQuery::default()).await.unwrap();
        let c = q
            .calls
            .iter()
            .find(|c| c.vendor_call_id.as_deref() == Some("9.1"))
            .unwrap();
        assert_eq!(c.status, CallStatus::Abandoned);
    })
    .await
    .expect("finished within 2 minutes");
}

/// The gateway itself restarts (the real binary, killed with SIGKILL) while the PBX's
/// calls go on: the new process hands the calls it had as live to the provider, whose
/// first resync finds what became of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_gateway_picks_up_the_pbx_calls_it_had() {
    tokio::time::timeout(Duration::from_secs(180), async {
        let db = TestDb::sqlite().await;
        let store = switchboard_gateway::store::connect(db.url()).await.unwrap();
        let seeded = seed(&*store, 1).await;
        let admin_id = store
            .create_agent(seeded.business, "ada", "Ada Admin", switchboard_core::AgentRole::Admin)
            .await
            .unwrap();
        let admin = switchboard_gateway::demo::issue_token(&*store, admin_id).await.unwrap();
        let alice_token = token(&*store, &seeded, "alice").await;
        let (data, secrets) = (tempfile::tempdir().unwrap(), secrets_dir());
        std::fs::write(secrets.path().join("AMI_PASSWORD"), "ami-s3cret").unwrap();
        let mut pbx = Pbx::start("switchboard", "ami-s3cret").await;
        let http = reqwest::Client::new();

        let mut gw = GatewayProcess::spawn(db.url(), data.path(), secrets.path(), &[]).await;
        let (code, p) = api(
            &http,
            reqwest::Method::POST,
            &format!("{}/v1/providers", gw.base),
            &admin,
            Some(json!({ "name": "pbx", "kind": "asterisk", "config": config(pbx.port, "secret:AMI_PASSWORD") })),
        )
        .await;
        assert_eq!(code, 201, "{p}");
        let (code, n) = api(
            &http,
            reqwest::Method::POST,
            &format!("{}/v1/numbers", gw.base),
            &admin,
            Some(json!({ "e164": NUMBER, "label": "PBX line", "provider_id": p["id"], "inbound": true, "outbound": true })),
        )
        .await;
        assert_eq!(code, 201, "{n}");
        let alice = Client::new(&gw.base, &alice_token).unwrap();
        alice.set_status(AgentStatus::Available).await.unwrap();
        eventually(20, "the gateway logged in to the PBX", || async { pbx.connected().then_some(()) }).await;

        // Call A is answered on alice's phone; call B waits in the PBX's queue.
        let a = queued(&alice, &queue_caller(&pbx, 21)).await.call;
        alice.answer(&a.call_sid).await.unwrap();
        let r = pbx.action().await;
        assert_eq!(r.get("Action"), Some("Redirect"));
        pbx.emit(&[("Event", "Newchannel"), ("Channel", "PJSIP/1001-00000021"), ("Exten", "1001"), ("Uniqueid", "21.2"), ("Linkedid", "21.1")]);
        for uid in ["21.1", "21.2"] {
            pbx.emit(&[("Event", "BridgeEnter"), ("BridgeUniqueid", "bridge-21"), ("Uniqueid", uid), ("Linkedid", "21.1"), ("Channel", "x")]);
        }
        eventually(20, "call A answered", || async {
            (alice.call(&a.call_sid).await.ok()?.call.status == CallStatus::Answered).then_some(())
        })
        .await;
        let b = queued(&alice, &queue_caller(&pbx, 22)).await.call;
        // Alice takes B too; the PBX redirects it to her phone...
        alice.answer(&b.call_sid).await.unwrap();
        assert_eq!(pbx.action().await.get("Action"), Some("Redirect"));

        // ... and the gateway dies. Meanwhile A's caller hangs up and B's reaches alice.
        gw.kill().await;
        eventually(10, "the PBX saw the gateway go", || async { (!pbx.connected()).then_some(()) }).await;
        pbx.offline(&[("Event", "Hangup"), ("Uniqueid", "21.1")]);
        pbx.offline(&[("Event", "Hangup"), ("Uniqueid", "21.2")]);
        pbx.offline(&[("Event", "Newchannel"), ("Channel", "PJSIP/1001-00000022"), ("Uniqueid", "22.2"), ("Linkedid", "22.1"), ("Exten", "1001")]);
        pbx.offline(&[("Event", "QueueCallerLeave"), ("Uniqueid", "22.1")]);
        for uid in ["22.1", "22.2"] {
            pbx.offline(&[("Event", "BridgeEnter"), ("BridgeUniqueid", "bridge-22"), ("Uniqueid", uid)]);
        }

        // A new process on the same database.
        gw = GatewayProcess::spawn(db.url(), data.path(), secrets.path(), &[]).await;
        let alice = Client::new(&gw.base, &alice_token).unwrap();
        let status = |sid: CallSid, want: CallStatus| {
            let alice = &alice;
            async move {
                eventually(30, &format!("the call {want} after the restart"), || async {
                    let c = alice.call(&sid).await.ok()?.call;
                    (c.status == want).then_some(c)
                })
                .await
            }
        };
        let a_done = status(a.call_sid.clone(), CallStatus::Completed).await;
        assert!(a_done.duration_secs.is_some(), "{a_done:?}");
        status(b.call_sid.clone(), CallStatus::Answered).await;
        // And the new process controls what it picked up.
        alice.end(&b.call_sid).await.unwrap_or_else(|e| panic!("end after the restart: {e}"));
        let h = pbx.action().await;
        assert_eq!((h.get("Action"), h.get("Channel")), (Some("Hangup"), Some("PJSIP/trunk-00000022")));
        gw.kill().await;
    })
    .await
    .expect("finished within 3 minutes");
}
