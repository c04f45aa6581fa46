//! LiveKit's server API: Twirp over HTTP (protocols.md §1.1), protobuf bodies with
//! `livekit-protocol`'s generated types, a fresh short token per request carrying exactly
//! the grants that method needs (§1.2).
//!
//! Why not `livekit-api`'s clients: they mint their own tokens with fixed grants per
//! service, bring a second reqwest and TLS stack into the build, and fold LiveKit's error
//! metadata (the SIP status of a failed call) into strings; the gateway needs the SIP code
//! as data to record `busy` or `no answer`. The wire format is the same as theirs: POST
//! `{host}/twirp/livekit.{Service}/{Method}`, `Content-Type: application/protobuf`.

use std::collections::HashMap;
use std::time::Duration;

use livekit_protocol as proto;
use prost::Message;
use serde::Deserialize;

use super::token::{self, ApiKey, SipGrant, VideoGrant};

/// How long the token of one request lives.
const REQUEST_TOKEN_SECS: i64 = 600;
/// How long one request may take, except a call placed until answered.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A failed server API call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TwirpError {
    /// The server could not be reached or the answer was cut off.
    #[error("LiveKit could not be reached: {0}")]
    Transport(String),
    /// The server answered with a Twirp error.
    #[error("LiveKit refused {method}: {code}: {msg}")]
    Server {
        method: &'static str,
        /// The Twirp code (`not_found`, `resource_exhausted`, ...).
        code: String,
        msg: String,
        /// The SIP status of a failed call, when LiveKit passes it on (`meta.sip_status_code`).
        sip_status: Option<u16>,
    },
    /// A 200 whose body is not the message it should be.
    #[error("LiveKit's answer to {0} could not be decoded")]
    Decode(&'static str),
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    msg: String,
    #[serde(default)]
    meta: HashMap<String, String>,
}

/// A client for one LiveKit server (or Cloud project).
#[derive(Debug, Clone)]
pub struct Twirp {
    base: String,
    key: ApiKey,
    http: reqwest::Client,
}

/// The grants one method needs.
enum Grant<'a> {
    SipAdmin,
    SipCall,
    /// `sip.call` and room admin on the room (TransferSIPParticipant).
    SipCallIn(&'a str),
    RoomAdmin(&'a str),
    RoomList,
}

impl Twirp {
    /// `url` is the server's URL as clients know it (`ws(s)://` or `http(s)://`).
    pub fn new(url: &str, key: ApiKey) -> Self {
        let base = url
            .trim_end_matches('/')
            .replacen("wss://", "https://", 1)
            .replacen("ws://", "http://", 1);
        let http = reqwest::Client::builder().build().unwrap_or_default();
        Self { base, key, http }
    }

    async fn call<Req: Message, Resp: Message + Default>(
        &self,
        service: &str,
        method: &'static str,
        grant: Grant<'_>,
        req: &Req,
    ) -> Result<Resp, TwirpError> {
        self.call_within(service, method, grant, req, REQUEST_TIMEOUT).await
    }

    async fn call_within<Req: Message, Resp: Message + Default>(
        &self,
        service: &str,
        method: &'static str,
        grant: Grant<'_>,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp, TwirpError> {
        let (video, sip) = match grant {
            Grant::SipAdmin => (
                None,
                Some(SipGrant {
                    admin: true,
                    call: false,
                }),
            ),
            Grant::SipCall => (
                None,
                Some(SipGrant {
                    admin: false,
                    call: true,
                }),
            ),
            Grant::SipCallIn(room) => (
                Some(room_admin(room)),
                Some(SipGrant {
                    admin: false,
                    call: true,
                }),
            ),
            Grant::RoomAdmin(room) => (Some(room_admin(room)), None),
            Grant::RoomList => (
                Some(VideoGrant {
                    room_list: true,
                    ..VideoGrant::default()
                }),
                None,
            ),
        };
        let jwt = token::mint_for(&self.key, "switchboard-gateway", REQUEST_TOKEN_SECS, video, sip);
        let resp = self
            .http
            .post(format!("{}/twirp/livekit.{service}/{method}", self.base))
            .bearer_auth(jwt)
            .header("content-type", "application/protobuf")
            .timeout(timeout)
            .body(req.encode_to_vec())
            .send()
            .await
            .map_err(|e| TwirpError::Transport(e.without_url().to_string()))?;
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .map_err(|e| TwirpError::Transport(e.without_url().to_string()))?;
        if status.is_success() {
            return Resp::decode(body.as_ref()).map_err(|_| TwirpError::Decode(method));
        }
        let e: ErrorBody = serde_json::from_slice(&body).unwrap_or_else(|_| ErrorBody {
            // Not a Twirp error: the server's auth layer, or a proxy. Its text is not
            // repeated: LiveKit's 401 echoes the token it refused.
            code: match status.as_u16() {
                401 => "unauthenticated".into(),
                403 => "permission_denied".into(),
                other => format!("http {other}"),
            },
            msg: match status.as_u16() {
                401 => "the API key or secret was not accepted".into(),
                403 => "the API key lacks a permission this needs".into(),
                _ => "the server answered without a Twirp error".into(),
            },
            meta: HashMap::new(),
        });
        Err(TwirpError::Server {
            method,
            sip_status: e.meta.get("sip_status_code").and_then(|c| c.parse().ok()),
            code: e.code,
            msg: e.msg,
        })
    }

    // --- SIP trunks and dispatch rules (sip.admin) ---

    pub async fn list_inbound_trunks(&self) -> Result<Vec<proto::SipInboundTrunkInfo>, TwirpError> {
        let r: proto::ListSipInboundTrunkResponse = self
            .call(
                "SIP",
                "ListSIPInboundTrunk",
                Grant::SipAdmin,
                &proto::ListSipInboundTrunkRequest::default(),
            )
            .await?;
        Ok(r.items)
    }

    pub async fn create_inbound_trunk(
        &self,
        trunk: proto::SipInboundTrunkInfo,
    ) -> Result<proto::SipInboundTrunkInfo, TwirpError> {
        let req = proto::CreateSipInboundTrunkRequest { trunk: Some(trunk) };
        self.call("SIP", "CreateSIPInboundTrunk", Grant::SipAdmin, &req).await
    }

    pub async fn list_outbound_trunks(&self) -> Result<Vec<proto::SipOutboundTrunkInfo>, TwirpError> {
        let r: proto::ListSipOutboundTrunkResponse = self
            .call(
                "SIP",
                "ListSIPOutboundTrunk",
                Grant::SipAdmin,
                &proto::ListSipOutboundTrunkRequest::default(),
            )
            .await?;
        Ok(r.items)
    }

    pub async fn create_outbound_trunk(
        &self,
        trunk: proto::SipOutboundTrunkInfo,
    ) -> Result<proto::SipOutboundTrunkInfo, TwirpError> {
        let req = proto::CreateSipOutboundTrunkRequest { trunk: Some(trunk) };
        self.call("SIP", "CreateSIPOutboundTrunk", Grant::SipAdmin, &req).await
    }

    pub async fn delete_trunk(&self, id: &str) -> Result<(), TwirpError> {
        let req = proto::DeleteSipTrunkRequest {
            sip_trunk_id: id.to_owned(),
        };
        let _: proto::SipTrunkInfo = self.call("SIP", "DeleteSIPTrunk", Grant::SipAdmin, &req).await?;
        Ok(())
    }

    pub async fn list_dispatch_rules(&self) -> Result<Vec<proto::SipDispatchRuleInfo>, TwirpError> {
        let r: proto::ListSipDispatchRuleResponse = self
            .call(
                "SIP",
                "ListSIPDispatchRule",
                Grant::SipAdmin,
                &proto::ListSipDispatchRuleRequest::default(),
            )
            .await?;
        Ok(r.items)
    }

    pub async fn create_dispatch_rule(
        &self,
        rule: proto::SipDispatchRuleInfo,
    ) -> Result<proto::SipDispatchRuleInfo, TwirpError> {
        // Servers before protocol 1.36 read only the top-level fields (now deprecated),
        // newer ones prefer `dispatch_rule`: send both, the same rule.
        #[allow(deprecated)]
        let req = proto::CreateSipDispatchRuleRequest {
            rule: rule.rule.clone(),
            trunk_ids: rule.trunk_ids.clone(),
            hide_phone_number: rule.hide_phone_number,
            name: rule.name.clone(),
            metadata: rule.metadata.clone(),
            attributes: rule.attributes.clone(),
            dispatch_rule: Some(rule),
            ..Default::default()
        };
        self.call("SIP", "CreateSIPDispatchRule", Grant::SipAdmin, &req).await
    }

    pub async fn delete_dispatch_rule(&self, id: &str) -> Result<(), TwirpError> {
        let req = proto::DeleteSipDispatchRuleRequest {
            sip_dispatch_rule_id: id.to_owned(),
        };
        let _: proto::SipDispatchRuleInfo = self.call("SIP", "DeleteSIPDispatchRule", Grant::SipAdmin, &req).await?;
        Ok(())
    }

    // --- calls ---

    pub async fn create_sip_participant(
        &self,
        req: &proto::CreateSipParticipantRequest,
    ) -> Result<proto::SipParticipantInfo, TwirpError> {
        self.call("SIP", "CreateSIPParticipant", Grant::SipCall, req).await
    }

    /// Place a call and wait until it is answered or has failed (`wait_until_answered`),
    /// for at most `ring` plus a margin: a failed call's error carries its SIP status.
    pub async fn create_sip_participant_answered(
        &self,
        req: &proto::CreateSipParticipantRequest,
        ring: Duration,
    ) -> Result<proto::SipParticipantInfo, TwirpError> {
        let req = proto::CreateSipParticipantRequest {
            wait_until_answered: true,
            ringing_timeout: Some(ring.into()),
            ..req.clone()
        };
        let within = ring + Duration::from_secs(15);
        self.call_within("SIP", "CreateSIPParticipant", Grant::SipCall, &req, within)
            .await
    }

    pub async fn transfer_sip_participant(&self, room: &str, identity: &str, to: &str) -> Result<(), TwirpError> {
        let req = proto::TransferSipParticipantRequest {
            participant_identity: identity.to_owned(),
            room_name: room.to_owned(),
            transfer_to: to.to_owned(),
            ..Default::default()
        };
        let _: proto::TransferSipParticipantResponse = self
            .call("SIP", "TransferSIPParticipant", Grant::SipCallIn(room), &req)
            .await?;
        Ok(())
    }

    // --- rooms (room admin on that room) ---

    pub async fn list_rooms(&self) -> Result<Vec<proto::Room>, TwirpError> {
        let r: proto::ListRoomsResponse = self
            .call(
                "RoomService",
                "ListRooms",
                Grant::RoomList,
                &proto::ListRoomsRequest::default(),
            )
            .await?;
        Ok(r.rooms)
    }

    pub async fn list_participants(&self, room: &str) -> Result<Vec<proto::ParticipantInfo>, TwirpError> {
        let req = proto::ListParticipantsRequest { room: room.to_owned() };
        let r: proto::ListParticipantsResponse = self
            .call("RoomService", "ListParticipants", Grant::RoomAdmin(room), &req)
            .await?;
        Ok(r.participants)
    }

    pub async fn remove_participant(&self, room: &str, identity: &str) -> Result<(), TwirpError> {
        let req = proto::RoomParticipantIdentity {
            room: room.to_owned(),
            identity: identity.to_owned(),
            ..Default::default()
        };
        let _: proto::RemoveParticipantResponse = self
            .call("RoomService", "RemoveParticipant", Grant::RoomAdmin(room), &req)
            .await?;
        Ok(())
    }

    pub async fn update_subscriptions(
        &self,
        room: &str,
        identity: &str,
        track_sids: Vec<String>,
        subscribe: bool,
    ) -> Result<(), TwirpError> {
        let req = proto::UpdateSubscriptionsRequest {
            room: room.to_owned(),
            identity: identity.to_owned(),
            track_sids,
            subscribe,
            ..Default::default()
        };
        let _: proto::UpdateSubscriptionsResponse = self
            .call("RoomService", "UpdateSubscriptions", Grant::RoomAdmin(room), &req)
            .await?;
        Ok(())
    }

    pub async fn mute_published_track(
        &self,
        room: &str,
        identity: &str,
        track_sid: &str,
        muted: bool,
    ) -> Result<(), TwirpError> {
        let req = proto::MuteRoomTrackRequest {
            room: room.to_owned(),
            identity: identity.to_owned(),
            track_sid: track_sid.to_owned(),
            muted,
        };
        let _: proto::MuteRoomTrackResponse = self
            .call("RoomService", "MutePublishedTrack", Grant::RoomAdmin(room), &req)
            .await?;
        Ok(())
    }
}

fn room_admin(room: &str) -> VideoGrant {
    VideoGrant {
        room_admin: true,
        room: Some(room.to_owned()),
        ..VideoGrant::default()
    }
}
