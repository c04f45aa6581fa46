//! Onboarding a business without SQL: the steps the admin API and the `business add`
//! subcommand share.

use switchboard_core::{Agent, AgentRole, BusinessId};

use crate::store::{Store, StoreError, StoreResult};

/// Create a business (the operator's own when `platform`) and its first admin, who can
/// then add agents and issue tokens over the admin API.
pub async fn create_business_with_admin(
    store: &dyn Store,
    name: &str,
    admin_login: &str,
) -> StoreResult<(BusinessId, Agent)> {
    create(store, name, admin_login, false).await
}

/// [`create_business_with_admin`] for the operator's own business.
pub async fn create_platform_business(
    store: &dyn Store,
    name: &str,
    admin_login: &str,
) -> StoreResult<(BusinessId, Agent)> {
    create(store, name, admin_login, true).await
}

async fn create(store: &dyn Store, name: &str, admin_login: &str, platform: bool) -> StoreResult<(BusinessId, Agent)> {
    let business = store.create_business(name, platform).await?;
    let id = store
        .create_agent(business, admin_login, admin_login, AgentRole::Admin)
        .await?;
    let admin = store.agent(business, id).await?.ok_or(StoreError::NotFound("agent"))?;
    Ok((business, admin))
}
