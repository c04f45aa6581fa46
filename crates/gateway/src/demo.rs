//! Seeding: the demo business behind `serve --demo`, and the building block tests use to
//! make businesses of their own.

use std::path::Path;
use std::sync::Arc;

use switchboard_core::{AgentId, AgentRole, BusinessId, LeadId, LeadStatus, NumberId, ProviderId};

use crate::auth::new_token;
use crate::store::{NewLead, NewNumber, Store, StoreError, StoreResult};

/// Name of the demo business.
pub const DEMO_BUSINESS: &str = "Demo Co";
/// Secret name of the demo's webhook secret.
pub const DEMO_SECRET: &str = "DEMO_WEBHOOK_SECRET";

/// What [`seed_business`] made.
#[derive(Debug, Clone)]
pub struct Seeded {
    /// The business.
    pub business: BusinessId,
    /// Agents by login name.
    pub agents: Vec<(String, AgentId)>,
    /// The simulator provider.
    pub provider: ProviderId,
    /// Its name (webhook path segment).
    pub provider_name: String,
    /// Numbers, default first.
    pub numbers: Vec<NumberId>,
    /// Leads.
    pub leads: Vec<LeadId>,
}

impl Seeded {
    /// An agent's id by name.
    pub fn agent(&self, name: &str) -> AgentId {
        self.agents
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, id)| *id)
            .expect("seeded agent exists")
    }
}

const FIRST: [&str; 10] = [
    "Ada", "Grace", "Linus", "Margaret", "Alan", "Barbara", "Dennis", "Frances", "Ken", "Radia",
];
const LAST: [&str; 5] = ["Lovelace", "Hopper", "Hamilton", "Turing", "Liskov"];
const COMPANIES: [&str; 4] = ["Acme Corp", "Globex", "Initech", "Umbrella Health"];

/// Create a business with agents alice and bob, supervisor sam, a default queue, a
/// simulator provider named `provider_name` with `sim_config`, three numbers (two
/// in+out, one inbound-only) and `leads` leads. `number_base` keeps numbers of
/// several businesses apart (e.g. 100 -> +1415555 0100..).
pub async fn seed_business(
    store: &dyn Store,
    name: &str,
    provider_name: &str,
    sim_config: serde_json::Value,
    number_base: u32,
    leads: u32,
) -> StoreResult<Seeded> {
    let business = store.create_business(name, false).await?;
    let mut agents = vec![];
    for (login, display, role) in [
        ("alice", "Alice Moreno", AgentRole::Agent),
        ("bob", "Bob Okafor", AgentRole::Agent),
        ("sam", "Sam Lindqvist", AgentRole::Supervisor),
    ] {
        agents.push((
            login.to_owned(),
            store.create_agent(business, login, display, role).await?,
        ));
    }
    store.create_queue(business, "Front desk", true).await?;
    let provider = store
        .create_provider(business, provider_name, "simulator", &sim_config)
        .await?;
    let mut numbers = vec![];
    for (i, (label, inbound, outbound, default)) in [
        ("Sales (US)", true, true, true),
        ("Support (US)", true, true, false),
        ("Hotline (inbound only)", true, false, false),
    ]
    .into_iter()
    .enumerate()
    {
        let e164 = format!("+1415555{:04}", number_base + i as u32)
            .parse()
            .map_err(|e: switchboard_core::PhoneError| StoreError::Invalid(e.to_string()))?;
        let n = NewNumber {
            e164,
            label: label.into(),
            provider_id: provider,
            inbound,
            outbound,
            is_default: default,
        };
        numbers.push(store.create_number(business, &n).await?);
    }
    let mut lead_ids = vec![];
    for i in 0..leads {
        let phone = format!("+1628555{:04}", number_base * 10 + i)
            .parse()
            .map_err(|e: switchboard_core::PhoneError| StoreError::Invalid(e.to_string()))?;
        let lead = NewLead {
            phone,
            name: format!(
                "{} {}",
                FIRST[i as usize % FIRST.len()],
                LAST[(i as usize / FIRST.len()) % LAST.len()]
            ),
            company: Some(COMPANIES[i as usize % COMPANIES.len()].into()),
            status: if i % 3 == 0 {
                LeadStatus::Qualified
            } else {
                LeadStatus::New
            },
            notes: None,
        };
        lead_ids.push(store.create_lead(business, &lead).await?);
    }
    Ok(Seeded {
        business,
        agents,
        provider,
        provider_name: provider_name.into(),
        numbers,
        leads: lead_ids,
    })
}

/// Issue a token with the default lifetime for an agent and return it (the database
/// keeps only its hash).
pub async fn issue_token(store: &dyn Store, agent: AgentId) -> StoreResult<String> {
    Ok(
        crate::auth::issue(store, agent, "", crate::auth::DEFAULT_TOKEN_TTL_DAYS)
            .await?
            .token,
    )
}

/// Seed the demo business once; later runs leave it as it is. Writes the demo's webhook
/// secret to `secrets_dir` if it is not there yet.
pub async fn seed_demo(store: &Arc<dyn Store>, secrets_dir: &Path) -> anyhow::Result<BusinessId> {
    let secret_file = secrets_dir.join(DEMO_SECRET);
    if !secret_file.exists() {
        std::fs::create_dir_all(secrets_dir)?;
        std::fs::write(&secret_file, new_token())?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&secret_file, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    if let Some(b) = store.business_by_name(DEMO_BUSINESS).await? {
        return Ok(b);
    }
    let config = serde_json::json!({
        "seed": 42,
        "inbound_per_minute": 4.0,
        "first_call_after_ms": 1500,
        "max_waiting": 4,
        "confirm_delay_ms": 300,
        "transcript_interval_ms": 3000,
        "outbound_ring_ms": 2500,
        "outbound_busy_rate": 0.1,
        "outbound_no_answer_rate": 0.1,
        "outbound_failed_rate": 0.05,
        "webhook_secret": format!("secret:{DEMO_SECRET}"),
        // Callers are real WebRTC peers; what each caller heard is kept beside the data.
        "media": { "recordings_dir": secrets_dir.parent().unwrap_or(secrets_dir).join("recordings") },
    });
    let seeded = seed_business(&**store, DEMO_BUSINESS, "simulator", config, 100, 50).await?;
    tracing::info!(business = %seeded.business, "seeded the demo business");
    Ok(seeded.business)
}
