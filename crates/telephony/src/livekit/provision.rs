//! What the LiveKit server must hold for a provider: an inbound trunk for its numbers, an
//! individual dispatch rule (a room per call) on that trunk, and an outbound trunk when
//! the config names a carrier. Each is named `switchboard:<provider name>`, so the
//! provider finds its own among whatever else the server holds.
//!
//! [`plan`] is pure: from what the server lists and what the config wants, the steps that
//! make them equal, and none when they already are (so provisioning on every start and
//! every config change is idempotent). LiveKit 1.8 has no trunk update, so a changed
//! trunk is deleted and created again; its rule follows it, since the rule names it.

use std::collections::HashMap;

use livekit_protocol as proto;

use super::webhook::{CARRIER_ID_ATTRIBUTE, PROVIDER_ATTRIBUTE};

/// The room name prefix of inbound calls.
pub const ROOM_PREFIX: &str = "call-";

/// What the server should hold, ids left empty.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    /// None while the provider has no inbound numbers (LiveKit refuses a trunk without).
    pub inbound: Option<proto::SipInboundTrunkInfo>,
    pub outbound: Option<proto::SipOutboundTrunkInfo>,
    /// `trunk_ids` is filled in when the inbound trunk's id is known.
    pub rule: proto::SipDispatchRuleInfo,
}

/// What the server holds now (everything listed; [`plan`] picks ours by name).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Existing {
    pub inbound: Vec<proto::SipInboundTrunkInfo>,
    pub outbound: Vec<proto::SipOutboundTrunkInfo>,
    pub rules: Vec<proto::SipDispatchRuleInfo>,
}

/// One change to make, in order. A handful per provisioning: their size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    DeleteRule(String),
    DeleteTrunk(String),
    CreateInbound(proto::SipInboundTrunkInfo),
    CreateOutbound(proto::SipOutboundTrunkInfo),
    /// Create the rule on the inbound trunk (kept or just created).
    CreateRule(proto::SipDispatchRuleInfo),
}

/// The name of every object a provider owns.
pub fn object_name(provider: &str) -> String {
    format!("switchboard:{provider}")
}

/// What a provider named `provider` wants, from its config and numbers.
pub fn desired(
    provider: &str,
    inbound_numbers: &[String],
    outbound_numbers: &[String],
    cfg: &super::LiveKitConfig,
) -> Desired {
    let name = object_name(provider);
    let mut headers_to_attributes = HashMap::new();
    if let Some(h) = &cfg.carrier_call_id_header {
        headers_to_attributes.insert(h.clone(), CARRIER_ID_ATTRIBUTE.to_owned());
    }
    let mut numbers = inbound_numbers.to_vec();
    numbers.sort();
    let mut allowed = cfg.allowed_addresses.clone();
    allowed.sort();
    let inbound = (!numbers.is_empty()).then(|| proto::SipInboundTrunkInfo {
        name: name.clone(),
        numbers,
        allowed_addresses: allowed,
        headers_to_attributes,
        ..Default::default()
    });
    // LiveKit refuses a trunk without numbers, either way: none until the first one.
    let outbound = cfg
        .outbound_address
        .as_ref()
        .filter(|_| !outbound_numbers.is_empty())
        .map(|address| {
            let mut numbers = outbound_numbers.to_vec();
            numbers.sort();
            proto::SipOutboundTrunkInfo {
                name: name.clone(),
                address: address.clone(),
                numbers,
                auth_username: cfg.outbound_username.clone().unwrap_or_default(),
                auth_password: cfg
                    .outbound_password
                    .as_ref()
                    .map(|p| p.expose().to_owned())
                    .unwrap_or_default(),
                ..Default::default()
            }
        });
    let rule = proto::SipDispatchRuleInfo {
        name,
        rule: Some(proto::SipDispatchRule {
            rule: Some(proto::sip_dispatch_rule::Rule::DispatchRuleIndividual(
                proto::SipDispatchRuleIndividual {
                    room_prefix: ROOM_PREFIX.to_owned(),
                    ..Default::default()
                },
            )),
        }),
        attributes: HashMap::from([(PROVIDER_ATTRIBUTE.to_owned(), provider.to_owned())]),
        ..Default::default()
    };
    Desired {
        inbound,
        outbound,
        rule,
    }
}

fn same_inbound(a: &proto::SipInboundTrunkInfo, b: &proto::SipInboundTrunkInfo) -> bool {
    let sorted = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v
    };
    a.name == b.name
        && sorted(&a.numbers) == sorted(&b.numbers)
        && sorted(&a.allowed_addresses) == sorted(&b.allowed_addresses)
        && a.headers_to_attributes == b.headers_to_attributes
}

fn same_outbound(a: &proto::SipOutboundTrunkInfo, b: &proto::SipOutboundTrunkInfo) -> bool {
    let sorted = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v
    };
    // The server does not list the password back; a changed password alone is not seen.
    a.name == b.name
        && a.address == b.address
        && sorted(&a.numbers) == sorted(&b.numbers)
        && a.auth_username == b.auth_username
}

fn same_rule(a: &proto::SipDispatchRuleInfo, b: &proto::SipDispatchRuleInfo, trunk: &str) -> bool {
    a.name == b.name && a.rule == b.rule && a.attributes == b.attributes && a.trunk_ids == [trunk.to_owned()]
}

/// The steps that turn `existing` into `desired` for the objects named `name`. Rules go
/// before trunks when deleting (a rule names its trunk), trunks before rules when creating.
pub fn plan(name: &str, existing: &Existing, desired: &Desired) -> Vec<Step> {
    let mut steps = vec![];
    let ours_in: Vec<_> = existing.inbound.iter().filter(|t| t.name == name).collect();
    let ours_out: Vec<_> = existing.outbound.iter().filter(|t| t.name == name).collect();
    let ours_rules: Vec<_> = existing.rules.iter().filter(|r| r.name == name).collect();

    let kept_in = desired
        .inbound
        .as_ref()
        .and_then(|want| ours_in.iter().find(|t| same_inbound(t, want)))
        .map(|t| t.sip_trunk_id.clone());
    let kept_rule = kept_in.as_ref().and_then(|trunk| {
        ours_rules
            .iter()
            .find(|r| same_rule(r, &desired.rule, trunk))
            .map(|r| r.sip_dispatch_rule_id.clone())
    });
    for r in &ours_rules {
        if Some(&r.sip_dispatch_rule_id) != kept_rule.as_ref() {
            steps.push(Step::DeleteRule(r.sip_dispatch_rule_id.clone()));
        }
    }
    for t in &ours_in {
        if Some(&t.sip_trunk_id) != kept_in.as_ref() {
            steps.push(Step::DeleteTrunk(t.sip_trunk_id.clone()));
        }
    }
    let kept_out = desired
        .outbound
        .as_ref()
        .and_then(|want| ours_out.iter().find(|t| same_outbound(t, want)))
        .map(|t| t.sip_trunk_id.clone());
    for t in &ours_out {
        if Some(&t.sip_trunk_id) != kept_out.as_ref() {
            steps.push(Step::DeleteTrunk(t.sip_trunk_id.clone()));
        }
    }
    if let (Some(want), None) = (&desired.inbound, &kept_in) {
        steps.push(Step::CreateInbound(want.clone()));
    }
    if let (Some(want), None) = (&desired.outbound, &kept_out) {
        steps.push(Step::CreateOutbound(want.clone()));
    }
    if desired.inbound.is_some() && kept_rule.is_none() {
        steps.push(Step::CreateRule(desired.rule.clone()));
    }
    steps
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::secret::Secret;

    fn cfg(outbound: Option<&str>) -> super::super::LiveKitConfig {
        super::super::LiveKitConfig {
            url: "ws://127.0.0.1:7880".into(),
            api_url: None,
            api_key: "key".into(),
            api_secret: Secret::new("secret"),
            outbound_address: outbound.map(Into::into),
            outbound_username: None,
            outbound_password: None,
            allowed_addresses: vec![],
            carrier_call_id_header: Some("X-Carrier-Call".into()),
            token_minutes: 60,
            ring_seconds: 30,
            transfer_domain: None,
            loopback_only: false,
        }
    }

    /// The server's view after `steps`, as if it had carried them out.
    fn apply(mut e: Existing, steps: &[Step]) -> Existing {
        let mut n = e.inbound.len() + e.outbound.len() + e.rules.len();
        let mut inbound_id = String::new();
        for s in steps {
            n += 1;
            match s {
                Step::DeleteRule(id) => e.rules.retain(|r| &r.sip_dispatch_rule_id != id),
                Step::DeleteTrunk(id) => {
                    e.inbound.retain(|t| &t.sip_trunk_id != id);
                    e.outbound.retain(|t| &t.sip_trunk_id != id);
                }
                Step::CreateInbound(t) => {
                    inbound_id = format!("ST_{n}");
                    e.inbound.push(proto::SipInboundTrunkInfo {
                        sip_trunk_id: inbound_id.clone(),
                        ..t.clone()
                    });
                }
                Step::CreateOutbound(t) => e.outbound.push(proto::SipOutboundTrunkInfo {
                    sip_trunk_id: format!("ST_{n}"),
                    auth_password: String::new(),
                    ..t.clone()
                }),
                Step::CreateRule(r) => {
                    let trunk = if inbound_id.is_empty() {
                        e.inbound
                            .iter()
                            .find(|t| t.name == r.name)
                            .unwrap()
                            .sip_trunk_id
                            .clone()
                    } else {
                        inbound_id.clone()
                    };
                    e.rules.push(proto::SipDispatchRuleInfo {
                        sip_dispatch_rule_id: format!("SDR_{n}"),
                        trunk_ids: vec![trunk],
                        ..r.clone()
                    });
                }
            }
        }
        e
    }

    #[test]
    fn provisioning_converges_and_then_does_nothing() {
        let name = object_name("lk");
        let numbers = vec!["+14155550101".to_owned(), "+14155550100".to_owned()];
        let want = desired("lk", &numbers, &numbers, &cfg(Some("sip.carrier.example")));
        // Someone else's trunk on the same server is left alone.
        let foreign = proto::SipInboundTrunkInfo {
            sip_trunk_id: "ST_other".into(),
            name: "theirs".into(),
            ..Default::default()
        };
        let start = Existing {
            inbound: vec![foreign.clone()],
            ..Existing::default()
        };
        let steps = plan(&name, &start, &want);
        assert_eq!(steps.len(), 3, "{steps:?}");
        let now = apply(start, &steps);
        assert_eq!(plan(&name, &now, &want), vec![], "a second run changes nothing");
        assert!(now.inbound.contains(&foreign));
        assert_eq!(
            want.inbound.as_ref().unwrap().headers_to_attributes["X-Carrier-Call"],
            CARRIER_ID_ATTRIBUTE
        );

        // A number added: the inbound trunk and its rule are replaced, the outbound
        // trunk is re-made with the number, nothing else is touched.
        let more = vec![
            "+14155550100".to_owned(),
            "+14155550101".to_owned(),
            "+14155550102".to_owned(),
        ];
        let want2 = desired("lk", &more, &more, &cfg(Some("sip.carrier.example")));
        let steps = plan(&name, &now, &want2);
        let deletes = steps
            .iter()
            .filter(|s| matches!(s, Step::DeleteRule(_) | Step::DeleteTrunk(_)))
            .count();
        assert_eq!(deletes, 3, "{steps:?}");
        let first_create = steps.iter().position(|s| matches!(s, Step::CreateInbound(_))).unwrap();
        assert!(
            steps[..first_create]
                .iter()
                .all(|s| matches!(s, Step::DeleteRule(_) | Step::DeleteTrunk(_)))
        );
        assert!(
            !steps
                .iter()
                .any(|s| matches!(s, Step::DeleteTrunk(id) if id == "ST_other"))
        );
        let now = apply(now, &steps);
        assert_eq!(plan(&name, &now, &want2), vec![]);

        // Outbound dropped from the config: only the outbound trunk goes.
        let want3 = desired("lk", &more, &more, &cfg(None));
        let steps = plan(&name, &now, &want3);
        assert_eq!(steps.len(), 1, "{steps:?}");
        assert!(matches!(&steps[0], Step::DeleteTrunk(id) if now.outbound.iter().any(|t| &t.sip_trunk_id == id)));
    }

    #[test]
    fn without_inbound_numbers_there_is_no_inbound_trunk_or_rule() {
        let name = object_name("lk");
        let n = vec!["+14155550100".to_owned()];
        let with = apply(
            Existing::default(),
            &plan(&name, &Existing::default(), &desired("lk", &n, &n, &cfg(None))),
        );
        assert_eq!((with.inbound.len(), with.rules.len()), (1, 1));
        // The last inbound number removed: trunk and rule go, rule first.
        let none = desired("lk", &[], &n, &cfg(None));
        let steps = plan(&name, &with, &none);
        assert!(
            matches!(&steps[..], [Step::DeleteRule(_), Step::DeleteTrunk(_)]),
            "{steps:?}"
        );
        assert_eq!(plan(&name, &Existing::default(), &none), vec![]);
    }

    #[test]
    fn the_outbound_trunk_waits_for_its_first_number() {
        let name = object_name("lk");
        let n = vec!["+14155550100".to_owned()];
        let none = desired("lk", &[], &[], &cfg(Some("sip.carrier.example")));
        assert_eq!(plan(&name, &Existing::default(), &none), vec![]);
        let one = desired("lk", &[], &n, &cfg(Some("sip.carrier.example")));
        let with = apply(Existing::default(), &plan(&name, &Existing::default(), &one));
        assert_eq!(with.outbound.len(), 1);
        assert_eq!(with.outbound[0].numbers, n);
        // And goes with its last.
        assert!(matches!(&plan(&name, &with, &none)[..], [Step::DeleteTrunk(_)]));
    }

    #[test]
    fn a_duplicate_left_by_a_crash_is_removed() {
        let name = object_name("lk");
        let n = vec!["+14155550100".to_owned()];
        let want = desired("lk", &n, &n, &cfg(None));
        let once = apply(Existing::default(), &plan(&name, &Existing::default(), &want));
        // A crash between create and list made a second copy of the inbound trunk.
        let mut twice = once.clone();
        let mut copy = twice.inbound[0].clone();
        copy.sip_trunk_id = "ST_copy".into();
        twice.inbound.push(copy);
        assert_eq!(plan(&name, &twice, &want), vec![Step::DeleteTrunk("ST_copy".into())]);
    }
}
