//! Twilio's REST API (2010-04-01), the calls the provider makes: place a call, redirect or
//! end a live one, start and stop its recording, and read the account (to check
//! credentials). Form-encoded requests with HTTP Basic auth (account SID and auth token);
//! JSON answers. SignalWire serves the same API under its own base URL.
//!
//! Checked against Stoplight Prism serving Twilio's own OpenAPI document
//! (`tests/twilio_rest_prism.rs`): every request here must validate there.

use std::time::Duration;

use serde::Deserialize;
use switchboard_core::{CallError, CallErrorCode};

use crate::ProviderError;
use crate::secret::Secret;

/// A client for one account.
#[derive(Debug, Clone)]
pub struct Rest {
    http: reqwest::Client,
    /// `https://api.twilio.com/2010-04-01`, or SignalWire's equivalent.
    base: String,
    account_sid: String,
    auth_token: Secret,
}

/// The part of a Call resource we read.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CallResource {
    /// `CA…`.
    pub sid: String,
    /// queued, ringing, in-progress, completed, busy, failed, no-answer, canceled.
    #[serde(default)]
    pub status: Option<String>,
}

/// A call to place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCall<'a> {
    /// The far end (E.164 or SIP URI).
    pub to: &'a str,
    /// One of the account's numbers.
    pub from: &'a str,
    /// TwiML to run when the far end answers.
    pub twiml: &'a str,
    /// Where Twilio reports the call's progress (every event).
    pub status_callback: &'a str,
    /// Ring for at most this long.
    pub timeout_secs: u32,
}

/// A change to a live call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallUpdate<'a> {
    /// Run this TwiML now (hold music, a transfer `<Dial>`, back to the agent).
    Twiml(&'a str),
    /// Hang up a call in progress.
    Complete,
    /// Cancel a call still queued or ringing.
    Cancel,
}

/// A participant to add to a conference: Twilio calls `to` and puts it in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewParticipant<'a> {
    /// Caller id shown to `to`: one of the account's numbers.
    pub from: &'a str,
    /// A number, `client:name` or a SIP URI.
    pub to: &'a str,
    /// A name for the participant, unique in its conference.
    pub label: &'a str,
    /// The conference starts when this participant enters.
    pub start_on_enter: bool,
    /// The conference ends when this participant leaves.
    pub end_on_exit: bool,
    /// Ring for at most this long.
    pub timeout_secs: u32,
    /// Where the conference's events go if this participant's request creates it.
    pub conference_status_callback: &'a str,
}

/// The part of a Participant resource we read.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ParticipantResource {
    /// The participant's own call, `CA…`.
    pub call_sid: String,
    /// `CF…`.
    #[serde(default)]
    pub conference_sid: Option<String>,
}

/// A change to a conference participant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParticipantUpdate<'a> {
    /// Take the participant out of the mix, playing it this music (Twilio's own if `None`).
    Hold(Option<&'a str>),
    /// Back into the mix.
    Unhold,
    /// Play the TwiML at this URL to the participant alone.
    Announce(&'a str),
}

/// Twilio's error body; newer APIs (and Prism) answer with RFC 9457 problem details.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    detail: Option<String>,
    #[serde(default)]
    title: Option<String>,
}

impl Rest {
    /// A client for `account_sid` at `base` (no trailing slash needed).
    pub fn new(base: &str, account_sid: &str, auth_token: Secret) -> Result<Self, ProviderError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| ProviderError::Config(format!("HTTP client: {e}")))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            account_sid: account_sid.to_owned(),
            auth_token,
        })
    }

    fn url(&self, tail: &str) -> String {
        format!("{}/Accounts/{}{tail}", self.base, self.account_sid)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, ProviderError> {
        let resp = req
            .basic_auth(&self.account_sid, Some(self.auth_token.expose()))
            .send()
            .await
            .map_err(|e| {
                ProviderError::Call(CallError::new(
                    CallErrorCode::Network,
                    format!("the carrier could not be reached: {e}"),
                ))
            })?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let body: Option<ErrorBody> = resp.json().await.ok();
        let code = body.as_ref().and_then(|b| b.code);
        let message = body.and_then(|b| b.message.or(b.detail).or(b.title));
        Err(ProviderError::Call(rest_error(status, code, message)))
    }

    /// Place a call.
    pub async fn create_call(&self, call: &NewCall<'_>) -> Result<CallResource, ProviderError> {
        let form = create_call_form(call);
        let resp = self.send(self.http.post(self.url("/Calls.json")).form(&form)).await?;
        json(resp).await
    }

    /// The URL calls are created at (for tests that send the form themselves).
    pub fn calls_url(&self) -> String {
        self.url("/Calls.json")
    }

    /// Change a live call.
    pub async fn update_call(&self, call_sid: &str, update: &CallUpdate<'_>) -> Result<CallResource, ProviderError> {
        let form: Vec<(&str, &str)> = match update {
            CallUpdate::Twiml(t) => vec![("Twiml", t)],
            CallUpdate::Complete => vec![("Status", "completed")],
            CallUpdate::Cancel => vec![("Status", "canceled")],
        };
        let resp = self
            .send(self.http.post(self.url(&format!("/Calls/{call_sid}.json"))).form(&form))
            .await?;
        json(resp).await
    }

    /// Add a participant to a conference, named by its `CF…` id or its friendly name (a
    /// conference that does not exist yet is created).
    pub async fn add_participant(
        &self,
        conference: &str,
        p: &NewParticipant<'_>,
    ) -> Result<ParticipantResource, ProviderError> {
        let form = add_participant_form(p);
        let url = self.url(&format!("/Conferences/{conference}/Participants.json"));
        let resp = self.send(self.http.post(url).form(&form)).await?;
        json(resp).await
    }

    /// Change a participant of a running conference.
    pub async fn update_participant(
        &self,
        conference_sid: &str,
        call_sid: &str,
        update: &ParticipantUpdate<'_>,
    ) -> Result<(), ProviderError> {
        let form: Vec<(&str, &str)> = match update {
            ParticipantUpdate::Hold(Some(music)) => vec![("Hold", "true"), ("HoldUrl", music), ("HoldMethod", "GET")],
            ParticipantUpdate::Hold(None) => vec![("Hold", "true")],
            ParticipantUpdate::Unhold => vec![("Hold", "false")],
            ParticipantUpdate::Announce(url) => vec![("AnnounceUrl", url), ("AnnounceMethod", "POST")],
        };
        let url = self.url(&format!("/Conferences/{conference_sid}/Participants/{call_sid}.json"));
        self.send(self.http.post(url).form(&form)).await.map(|_| ())
    }

    /// Take a participant out of a conference (its call hangs up).
    pub async fn remove_participant(&self, conference_sid: &str, call_sid: &str) -> Result<(), ProviderError> {
        let url = self.url(&format!("/Conferences/{conference_sid}/Participants/{call_sid}.json"));
        self.send(self.http.delete(url)).await.map(|_| ())
    }

    /// Read a call (its status after an outage).
    pub async fn fetch_call(&self, call_sid: &str) -> Result<CallResource, ProviderError> {
        let resp = self
            .send(self.http.get(self.url(&format!("/Calls/{call_sid}.json"))))
            .await?;
        json(resp).await
    }

    /// Start recording a live call; the recording's URL arrives at `callback` once it is
    /// `completed` (Twilio's default event, so it is not named).
    pub async fn start_recording(&self, call_sid: &str, callback: &str) -> Result<(), ProviderError> {
        let form = [
            ("RecordingStatusCallback", callback),
            ("RecordingStatusCallbackMethod", "POST"),
        ];
        self.send(
            self.http
                .post(self.url(&format!("/Calls/{call_sid}/Recordings.json")))
                .form(&form),
        )
        .await
        .map(|_| ())
    }

    /// Stop the call's current recording.
    pub async fn stop_recording(&self, call_sid: &str) -> Result<(), ProviderError> {
        let url = self.url(&format!("/Calls/{call_sid}/Recordings/Twilio.CURRENT.json"));
        self.send(self.http.post(url).form(&[("Status", "stopped")]))
            .await
            .map(|_| ())
    }

    /// Read the account: the credentials work and the account is active.
    pub async fn check_account(&self) -> Result<(), ProviderError> {
        #[derive(Deserialize)]
        struct Account {
            #[serde(default)]
            status: Option<String>,
        }
        let resp = self.send(self.http.get(self.url(".json"))).await?;
        let account: Account = json(resp).await?;
        match account.status.as_deref() {
            Some("active") | None => Ok(()),
            Some(other) => Err(ProviderError::Config(format!("the account is {other}"))),
        }
    }
}

/// The form that places `call`: every progress event reported, each `StatusCallbackEvent`
/// value in a parameter of its own, as Twilio's API wants repeated values.
pub fn create_call_form(call: &NewCall<'_>) -> Vec<(&'static str, String)> {
    let mut form: Vec<(&str, String)> = vec![
        ("To", call.to.to_owned()),
        ("From", call.from.to_owned()),
        ("Twiml", call.twiml.to_owned()),
        ("StatusCallback", call.status_callback.to_owned()),
        ("StatusCallbackMethod", "POST".to_owned()),
        ("Timeout", call.timeout_secs.clamp(5, 600).to_string()),
    ];
    for ev in ["initiated", "ringing", "answered", "completed"] {
        form.push(("StatusCallbackEvent", ev.to_owned()));
    }
    form
}

/// The form that adds participant `p`; the conference's events named one key each.
pub fn add_participant_form(p: &NewParticipant<'_>) -> Vec<(&'static str, String)> {
    let flag = |b: bool| if b { "true" } else { "false" }.to_owned();
    let mut form: Vec<(&str, String)> = vec![
        ("From", p.from.to_owned()),
        ("To", p.to.to_owned()),
        ("Label", p.label.to_owned()),
        ("Beep", "false".to_owned()),
        ("StartConferenceOnEnter", flag(p.start_on_enter)),
        ("EndConferenceOnExit", flag(p.end_on_exit)),
        ("Timeout", p.timeout_secs.clamp(5, 600).to_string()),
        ("ConferenceStatusCallback", p.conference_status_callback.to_owned()),
        ("ConferenceStatusCallbackMethod", "POST".to_owned()),
    ];
    for ev in ["start", "end", "join", "leave"] {
        form.push(("ConferenceStatusCallbackEvent", ev.to_owned()));
    }
    form
}

async fn json<T: serde::de::DeserializeOwned>(resp: reqwest::Response) -> Result<T, ProviderError> {
    resp.json().await.map_err(|e| {
        ProviderError::Call(CallError::new(
            CallErrorCode::ProviderError,
            format!("the carrier's answer could not be read: {e}"),
        ))
    })
}

/// A refusal from the REST API, normalised; Twilio's code and message are kept.
pub fn rest_error(status: u16, code: Option<i64>, message: Option<String>) -> CallError {
    let kind = match (status, code) {
        (_, Some(21211 | 21214 | 21217 | 21215 | 13223 | 13224)) => CallErrorCode::InvalidNumber,
        (401 | 403, _) | (_, Some(20003)) => CallErrorCode::AuthFailed,
        (429, _) | (_, Some(20429)) => CallErrorCode::RateLimited,
        (500..=599, _) => CallErrorCode::Unavailable,
        (400..=499, _) => CallErrorCode::Rejected,
        _ => CallErrorCode::ProviderError,
    };
    let what = match kind {
        CallErrorCode::InvalidNumber => "the carrier cannot dial that number",
        CallErrorCode::AuthFailed => "the carrier refused our credentials",
        CallErrorCode::RateLimited => "the carrier is limiting requests",
        CallErrorCode::Unavailable => "the carrier is unavailable",
        _ => "the carrier refused the request",
    };
    CallError {
        provider_code: code.map(|c| c.to_string()),
        provider_message: message,
        ..CallError::new(kind, what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_keep_twilios_code_and_say_what_it_means() {
        let e = rest_error(400, Some(21211), Some("Invalid 'To' Phone Number".into()));
        assert_eq!(e.code, CallErrorCode::InvalidNumber);
        assert_eq!(e.provider_code.as_deref(), Some("21211"));
        assert_eq!(e.provider_message.as_deref(), Some("Invalid 'To' Phone Number"));
        assert!(!e.retryable);
        assert_eq!(rest_error(401, Some(20003), None).code, CallErrorCode::AuthFailed);
        assert_eq!(rest_error(429, None, None).code, CallErrorCode::RateLimited);
        assert!(rest_error(503, None, None).retryable);
        assert_eq!(rest_error(404, Some(20404), None).code, CallErrorCode::Rejected);
    }
}
