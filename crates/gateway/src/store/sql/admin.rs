//! Providers and numbers changed by an admin while the gateway runs. Each change appends a
//! stream event in its own transaction (`provider_changed`, `number_changed`): that is the
//! audit trail, and it is how every replica hears about the change (its realtime feeder
//! reads the event and the running providers reload). Removing keeps the row, since calls
//! and receipts refer to it; adding the same name or number again brings it back.

use switchboard_core::api::{NewNumberRequest, NumberPatch};
use switchboard_core::{NumberId, PhoneNumber, ProviderId, StreamEventKind};

use super::super::rows::{NUMBER_SELECT, NumberRow, ProviderDbRow};
use super::super::{Principal, ProviderRow, StoreError, StoreResult};
use super::{Backend, SqlStore, Tx, now_ms};

const PROVIDER_COLUMNS: &str = "id, business_id, name, kind, config, enabled";

impl<B: Backend> SqlStore<B> {
    pub(super) async fn provider_rows(
        &self,
        business: Option<i64>,
        enabled_only: bool,
    ) -> StoreResult<Vec<ProviderRow>> {
        let sql = format!(
            "SELECT {PROVIDER_COLUMNS} FROM telephony_providers WHERE removed_at IS NULL \
             AND ($1 = 0 OR business_id = $1) AND ($2 = 0 OR enabled = 1) ORDER BY id"
        );
        let rows: Vec<ProviderDbRow> = sqlx::query_as(&sql)
            .bind(business.unwrap_or(0))
            .bind(i64::from(enabled_only))
            .fetch_all(&self.read)
            .await?;
        rows.into_iter().map(ProviderRow::try_from).collect()
    }

    async fn provider_in_tx(tx: &mut Tx<'_, B>, who: &Principal, id: ProviderId) -> StoreResult<ProviderRow> {
        let sql = format!(
            "SELECT {PROVIDER_COLUMNS} FROM telephony_providers WHERE id = $1 AND business_id = $2 AND removed_at IS NULL"
        );
        let row: Option<ProviderDbRow> = sqlx::query_as(&sql)
            .bind(id.get())
            .bind(who.business_id.get())
            .fetch_optional(tx.conn())
            .await?;
        row.map(ProviderRow::try_from)
            .transpose()?
            .ok_or(StoreError::NotFound("provider"))
    }

    async fn provider_changed(tx: &mut Tx<'_, B>, who: &Principal, row: &ProviderRow, change: &str) -> StoreResult<()> {
        let data = serde_json::json!({
            "provider_id": row.id, "name": row.name, "kind": row.kind, "change": change,
            "enabled": row.enabled, "agent_id": who.agent_id,
        });
        tx.append(who.business_id, StreamEventKind::ProviderChanged, None, &data)
            .await?;
        Ok(())
    }

    pub(super) async fn add_provider_row(
        &self,
        who: &Principal,
        name: &str,
        kind: &str,
        config: &serde_json::Value,
    ) -> StoreResult<ProviderRow> {
        let mut tx = self.begin().await?;
        // A name is global (webhook URLs carry it). A removed provider of this business
        // gives its name back; anyone else's is taken.
        let existing: Option<(i64, i64, Option<i64>)> =
            sqlx::query_as("SELECT id, business_id, removed_at FROM telephony_providers WHERE name = $1")
                .bind(name.to_owned())
                .fetch_optional(tx.conn())
                .await?;
        let id = match existing {
            Some((id, business, Some(_))) if business == who.business_id.get() => {
                sqlx::query(
                    "UPDATE telephony_providers SET kind = $1, config = $2, enabled = 1, removed_at = NULL WHERE id = $3",
                )
                .bind(kind.to_owned())
                .bind(config.to_string())
                .bind(id)
                .execute(tx.conn())
                .await?;
                id
            }
            Some(_) => return Err(StoreError::Conflict(format!("the provider name {name:?} is taken"))),
            None => {
                sqlx::query_scalar(
                    "INSERT INTO telephony_providers (business_id, name, kind, config, enabled, created_at) \
                     VALUES ($1, $2, $3, $4, 1, $5) RETURNING id",
                )
                .bind(who.business_id.get())
                .bind(name.to_owned())
                .bind(kind.to_owned())
                .bind(config.to_string())
                .bind(now_ms())
                .fetch_one(tx.conn())
                .await?
            }
        };
        let id = ProviderId::try_from(id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let row = Self::provider_in_tx(&mut tx, who, id).await?;
        Self::provider_changed(&mut tx, who, &row, "added").await?;
        tx.commit().await?;
        Ok(row)
    }

    pub(super) async fn update_provider_row(
        &self,
        who: &Principal,
        id: ProviderId,
        config: Option<&serde_json::Value>,
        enabled: Option<bool>,
    ) -> StoreResult<ProviderRow> {
        let mut tx = self.begin().await?;
        let mut row = Self::provider_in_tx(&mut tx, who, id).await?;
        if let Some(c) = config {
            row.config = c.clone();
        }
        if let Some(e) = enabled {
            row.enabled = e;
        }
        sqlx::query("UPDATE telephony_providers SET config = $1, enabled = $2 WHERE id = $3")
            .bind(row.config.to_string())
            .bind(i64::from(row.enabled))
            .bind(id.get())
            .execute(tx.conn())
            .await?;
        Self::provider_changed(&mut tx, who, &row, "changed").await?;
        tx.commit().await?;
        Ok(row)
    }

    pub(super) async fn remove_provider_row(&self, who: &Principal, id: ProviderId) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let row = Self::provider_in_tx(&mut tx, who, id).await?;
        let numbers: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM business_phone_numbers WHERE provider_id = $1 AND removed_at IS NULL",
        )
        .bind(id.get())
        .fetch_one(tx.conn())
        .await?;
        if numbers > 0 {
            return Err(StoreError::Conflict(format!(
                "{} still carries {numbers} number(s): move or remove them first",
                row.name
            )));
        }
        sqlx::query("UPDATE telephony_providers SET enabled = 0, removed_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(id.get())
            .execute(tx.conn())
            .await?;
        Self::provider_changed(&mut tx, who, &row, "removed").await?;
        tx.commit().await
    }

    async fn number_in_tx(tx: &mut Tx<'_, B>, who: &Principal, id: NumberId) -> StoreResult<PhoneNumber> {
        let sql = format!(
            "SELECT {NUMBER_SELECT} FROM business_phone_numbers n JOIN telephony_providers p ON p.id = n.provider_id \
             WHERE n.id = $1 AND n.business_id = $2 AND n.removed_at IS NULL"
        );
        let row: Option<NumberRow> = sqlx::query_as(&sql)
            .bind(id.get())
            .bind(who.business_id.get())
            .fetch_optional(tx.conn())
            .await?;
        row.map(PhoneNumber::try_from)
            .transpose()?
            .ok_or(StoreError::NotFound("number"))
    }

    /// The provider a number is to move to must be one of the business's, not removed.
    async fn check_carrier(tx: &mut Tx<'_, B>, who: &Principal, provider: ProviderId) -> StoreResult<()> {
        Self::provider_in_tx(tx, who, provider)
            .await
            .map(|_| ())
            .map_err(|_| StoreError::Invalid(format!("provider {provider} is not one of this business's providers")))
    }

    /// `providers`: every provider the change touches (a moved number has two), so each
    /// replica can reload them with their new set of numbers.
    async fn number_changed(
        tx: &mut Tx<'_, B>,
        who: &Principal,
        id: NumberId,
        change: &str,
        number: Option<&PhoneNumber>,
        providers: &[ProviderId],
    ) -> StoreResult<()> {
        let data = serde_json::json!({ "number_id": id, "change": change, "number": number,
            "provider_ids": providers, "agent_id": who.agent_id });
        tx.append(who.business_id, StreamEventKind::NumberChanged, None, &data)
            .await?;
        Ok(())
    }

    async fn clear_default(tx: &mut Tx<'_, B>, who: &Principal) -> StoreResult<()> {
        sqlx::query("UPDATE business_phone_numbers SET is_default = 0 WHERE business_id = $1")
            .bind(who.business_id.get())
            .execute(tx.conn())
            .await?;
        Ok(())
    }

    pub(super) async fn add_number_row(&self, who: &Principal, req: &NewNumberRequest) -> StoreResult<PhoneNumber> {
        let mut tx = self.begin().await?;
        Self::check_carrier(&mut tx, who, req.provider_id).await?;
        if req.is_default {
            Self::clear_default(&mut tx, who).await?;
        }
        let existing: Option<(i64, Option<i64>)> =
            sqlx::query_as("SELECT id, removed_at FROM business_phone_numbers WHERE business_id = $1 AND e164 = $2")
                .bind(who.business_id.get())
                .bind(req.e164.to_string())
                .fetch_optional(tx.conn())
                .await?;
        let id: i64 = match existing {
            Some((_, None)) => {
                return Err(StoreError::Conflict(format!("{} is already one of this business's numbers", req.e164)));
            }
            Some((id, Some(_))) => {
                sqlx::query(
                    "UPDATE business_phone_numbers SET provider_id = $1, label = $2, inbound = $3, outbound = $4, \
                     is_default = $5, removed_at = NULL WHERE id = $6",
                )
                .bind(req.provider_id.get())
                .bind(req.label.clone())
                .bind(i64::from(req.inbound))
                .bind(i64::from(req.outbound))
                .bind(i64::from(req.is_default))
                .bind(id)
                .execute(tx.conn())
                .await?;
                id
            }
            None => {
                sqlx::query_scalar(
                    "INSERT INTO business_phone_numbers (business_id, provider_id, e164, label, inbound, outbound, is_default, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                )
                .bind(who.business_id.get())
                .bind(req.provider_id.get())
                .bind(req.e164.to_string())
                .bind(req.label.clone())
                .bind(i64::from(req.inbound))
                .bind(i64::from(req.outbound))
                .bind(i64::from(req.is_default))
                .bind(now_ms())
                .fetch_one(tx.conn())
                .await?
            }
        };
        let id = NumberId::try_from(id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let number = Self::number_in_tx(&mut tx, who, id).await?;
        Self::number_changed(&mut tx, who, id, "added", Some(&number), &[number.provider_id]).await?;
        tx.commit().await?;
        Ok(number)
    }

    pub(super) async fn update_number_row(
        &self,
        who: &Principal,
        id: NumberId,
        p: &NumberPatch,
    ) -> StoreResult<PhoneNumber> {
        let mut tx = self.begin().await?;
        let mut n = Self::number_in_tx(&mut tx, who, id).await?;
        let was = n.provider_id;
        if let Some(provider) = p.provider_id {
            Self::check_carrier(&mut tx, who, provider).await?;
            n.provider_id = provider;
        }
        if let Some(label) = &p.label {
            n.label = label.clone();
        }
        n.capabilities.inbound = p.inbound.unwrap_or(n.capabilities.inbound);
        n.capabilities.outbound = p.outbound.unwrap_or(n.capabilities.outbound);
        if p.is_default == Some(true) {
            Self::clear_default(&mut tx, who).await?;
        }
        n.is_default = p.is_default.unwrap_or(n.is_default);
        sqlx::query(
            "UPDATE business_phone_numbers SET provider_id = $1, label = $2, inbound = $3, outbound = $4, is_default = $5 \
             WHERE id = $6",
        )
        .bind(n.provider_id.get())
        .bind(n.label.clone())
        .bind(i64::from(n.capabilities.inbound))
        .bind(i64::from(n.capabilities.outbound))
        .bind(i64::from(n.is_default))
        .bind(id.get())
        .execute(tx.conn())
        .await?;
        let number = Self::number_in_tx(&mut tx, who, id).await?;
        let touched = if was == number.provider_id {
            vec![was]
        } else {
            vec![was, number.provider_id]
        };
        Self::number_changed(&mut tx, who, id, "changed", Some(&number), &touched).await?;
        tx.commit().await?;
        Ok(number)
    }

    pub(super) async fn remove_number_row(&self, who: &Principal, id: NumberId) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let gone = Self::number_in_tx(&mut tx, who, id).await?;
        sqlx::query("UPDATE business_phone_numbers SET removed_at = $1, is_default = 0 WHERE id = $2")
            .bind(now_ms())
            .bind(id.get())
            .execute(tx.conn())
            .await?;
        Self::number_changed(&mut tx, who, id, "removed", None, &[gone.provider_id]).await?;
        tx.commit().await
    }
}
