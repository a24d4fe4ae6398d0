//! Aggregates for the home pages: the pipeline by stage, overdue tasks, accounts nobody has talked
//! to, when accounts were last touched and activities per week, each narrowed to some owners.

use holdfast_core::record::{self, Record, RecordKind, Value};
use holdfast_core::storage::{
    AccountStake, ExposureSnapshot, Relationship, Renewal, ReportStore, StageTotal, StorageResult, Touches,
};
use uuid::Uuid;

use crate::codec::{Cols, record_from_row};
use crate::conn::Conn;
use crate::records::kind_sql;
use crate::tx::SqlTx;

/// ` AND <column> IN ($n, …)` for the ids given (nothing for `None`), adding their params.
fn id_scope(column: &str, ids: Option<&[Uuid]>, params: &mut Vec<Value>) -> String {
    match ids {
        None => String::new(),
        Some([]) => " AND 1 = 0".into(),
        Some(list) => {
            let ph: Vec<String> = list
                .iter()
                .map(|o| {
                    params.push(Value::Text(o.to_string()));
                    format!("${}", params.len())
                })
                .collect();
            format!(" AND {column} IN ({})", ph.join(", "))
        }
    }
}

/// ` AND <owner> IN ($n, …)` on the kind's owner field for the owners given (nothing for `None`),
/// adding their params.
fn owner_scope(kind: &RecordKind, owners: Option<&[Uuid]>, params: &mut Vec<Value>) -> String {
    id_scope(&format!("\"{}\"", kind.owner_field), owners, params)
}

impl<C: Conn> ReportStore for SqlTx<C> {
    fn deal_pipeline(&mut self, owners: Option<&[Uuid]>) -> StorageResult<Vec<StageTotal<String>>> {
        let mut params = Vec::new();
        let scope = owner_scope(&record::DEALS, owners, &mut params);
        let rows = self.conn.rows(
            &format!(
                "SELECT stage, count(*), CAST(coalesce(sum(amount), 0) AS BIGINT) FROM deals WHERE deleted_at IS NULL{scope} GROUP BY stage"
            ),
            &params,
        )?;
        rows.iter()
            .map(|r| {
                let mut c = Cols(r.iter());
                Ok(StageTotal { stage: c.text()?, deals: c.int()?, cents: c.int()? })
            })
            .collect()
    }

    fn overdue_tasks(&mut self, owners: Option<&[Uuid]>, today: &str, limit: u32) -> StorageResult<Vec<Record>> {
        let kind = &record::TASKS;
        let mut params = vec![Value::Text(today.into()), Value::Int(limit.into())];
        let scope = owner_scope(kind, owners, &mut params);
        let text = format!(
            "{} WHERE deleted_at IS NULL AND status = 'open' AND due_date < $1{scope} ORDER BY due_date, id LIMIT $2",
            kind_sql(kind).select
        );
        let rows = self.conn.rows(&text, &params)?;
        rows.iter().map(|r| record_from_row(kind, r)).collect()
    }

    fn untouched_accounts(&mut self, owners: Option<&[Uuid]>, since: i64, limit: u32) -> StorageResult<Vec<Record>> {
        let kind = &record::ACCOUNTS;
        let mut params = vec![Value::Int(since), Value::Int(limit.into())];
        let scope = owner_scope(kind, owners, &mut params);
        let text = format!(
            "{} WHERE deleted_at IS NULL{scope} AND NOT EXISTS (SELECT 1 FROM activities x WHERE x.account_id = accounts.id \
             AND x.occurred_at >= $1 AND x.deleted_at IS NULL) ORDER BY name, id LIMIT $2",
            kind_sql(kind).select
        );
        let rows = self.conn.rows(&text, &params)?;
        let mut records = rows.iter().map(|r| record_from_row(kind, r)).collect::<StorageResult<Vec<_>>>()?;
        self.load_links(kind, &mut records)?;
        Ok(records)
    }

    fn last_touches(&mut self, accounts: &[Uuid]) -> StorageResult<Vec<(Uuid, i64)>> {
        let mut out = Vec::new();
        for chunk in accounts.chunks(200) {
            let params: Vec<Value> = chunk.iter().map(|a| Value::Text(a.to_string())).collect();
            let ph: Vec<String> = (1..=params.len()).map(|i| format!("${i}")).collect();
            let rows = self.conn.rows(
                &format!(
                    "SELECT account_id, max(occurred_at) FROM activities WHERE account_id IN ({}) \
                     AND deleted_at IS NULL GROUP BY account_id",
                    ph.join(", ")
                ),
                &params,
            )?;
            for r in &rows {
                let mut c = Cols(r.iter());
                let id = c.text()?;
                let at = c.int()?;
                if let Ok(id) = Uuid::parse_str(&id) {
                    out.push((id, at));
                }
            }
        }
        Ok(out)
    }

    fn relationship_touches(
        &mut self,
        since: i64,
        until: Option<i64>,
        accounts: Option<&[Uuid]>,
    ) -> StorageResult<Vec<Touches>> {
        let mut params = vec![Value::Int(since)];
        let mut only = id_scope("account_id", accounts, &mut params);
        if let Some(until) = until {
            params.push(Value::Int(until));
            only.push_str(&format!(" AND occurred_at < ${}", params.len()));
        }
        // Two aggregates, each walking its own index in order (the owners of the live activities
        // by account and co-worker; the co-workers who took part), merged here: one GROUP BY over
        // their union would sort millions of rows.
        let owners = self.conn.rows(
            &format!(
                "SELECT account_id, owner_id, count(*), max(occurred_at) FROM activities \
                 WHERE deleted_at IS NULL AND account_id IS NOT NULL AND owner_id IS NOT NULL \
                   AND occurred_at >= $1{only} GROUP BY account_id, owner_id"
            ),
            &params,
        )?;
        let joined = only.replace("account_id", "a.account_id").replace("occurred_at", "a.occurred_at");
        let part_takers = self.conn.rows(
            &format!(
                "SELECT a.account_id, l.target_id, count(*), max(a.occurred_at) \
                 FROM record_links l JOIN activities a ON a.id = l.record_id \
                 WHERE l.kind = 'activity' AND l.field = 'coworker_ids' AND a.deleted_at IS NULL \
                   AND a.account_id IS NOT NULL AND a.occurred_at >= $1{joined} \
                 GROUP BY a.account_id, l.target_id"
            ),
            &params,
        )?;
        let mut merged: std::collections::HashMap<(Uuid, Uuid), Touches> = std::collections::HashMap::new();
        for r in owners.iter().chain(&part_takers) {
            let mut c = Cols(r.iter());
            let t = Touches { account: c.uuid()?, coworker: c.uuid()?, activities: c.int()?, last_at: c.int()? };
            merged
                .entry((t.account, t.coworker))
                .and_modify(|m| {
                    m.activities += t.activities;
                    m.last_at = m.last_at.max(t.last_at);
                })
                .or_insert(t);
        }
        Ok(merged.into_values().collect())
    }

    fn live_relationships(&mut self, since: i64) -> StorageResult<Vec<Relationship>> {
        let rows = self.conn.rows(
            "SELECT account_id, coworker_id, last_touch_at FROM account_relationships WHERE last_touch_at >= $1",
            &[Value::Int(since)],
        )?;
        rows.iter()
            .map(|r| {
                let mut c = Cols(r.iter());
                Ok(Relationship { account: c.uuid()?, coworker: c.uuid()?, last_at: c.int()? })
            })
            .collect()
    }

    fn account_contacts(&mut self, since: i64, accounts: Option<&[Uuid]>) -> StorageResult<Vec<(Uuid, i64)>> {
        let mut params = vec![Value::Int(since)];
        let only = id_scope("a.account_id", accounts, &mut params);
        let rows = self.conn.rows(
            &format!(
                "SELECT a.account_id, count(DISTINCT l.target_id) FROM record_links l JOIN activities a ON a.id = l.record_id \
                 WHERE l.kind = 'activity' AND l.field = 'contact_ids' AND a.deleted_at IS NULL \
                   AND a.account_id IS NOT NULL AND a.occurred_at >= $1{only} GROUP BY a.account_id"
            ),
            &params,
        )?;
        rows.iter()
            .map(|r| {
                let mut c = Cols(r.iter());
                Ok((c.uuid()?, c.int()?))
            })
            .collect()
    }

    fn account_stakes(&mut self, from: &str, until: &str) -> StorageResult<Vec<AccountStake>> {
        let rows = self.conn.rows(
            "SELECT a.id, a.name, a.tier, a.owner_id, coalesce(a.annual_value, 0), \
               coalesce((SELECT CAST(sum(d.amount) AS BIGINT) FROM deals d WHERE d.account_id = a.id AND d.deleted_at IS NULL \
                 AND d.stage NOT IN ('closed_won', 'closed_lost')), 0), \
               (SELECT count(*) FROM contracts k WHERE k.account_id = a.id AND k.deleted_at IS NULL \
                 AND coalesce(k.renewal_date, k.end_date) >= $1 AND coalesce(k.renewal_date, k.end_date) <= $2) \
             FROM accounts a WHERE a.deleted_at IS NULL",
            &[Value::Text(from.into()), Value::Text(until.into())],
        )?;
        rows.iter()
            .map(|r| {
                let mut c = Cols(r.iter());
                Ok(AccountStake {
                    id: c.uuid()?,
                    name: c.text()?,
                    tier: c.opt_text()?,
                    owner: c.opt_uuid()?,
                    annual_value: c.int()?,
                    open_pipeline: c.int()?,
                    renewals: c.int()?,
                })
            })
            .collect()
    }

    fn exposure_snapshots(&mut self, months: &[String]) -> StorageResult<Vec<ExposureSnapshot>> {
        if months.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (1..=months.len()).map(|i| format!("${i}")).collect();
        let params: Vec<Value> = months.iter().map(|m| Value::Text(m.clone())).collect();
        let rows = self.conn.rows(
            &format!(
                "SELECT month, coworker_id, accounts, value_at_stake, taken_at FROM exposure_snapshots \
                 WHERE month IN ({}) ORDER BY month, coworker_id",
                marks.join(", ")
            ),
            &params,
        )?;
        rows.iter()
            .map(|r| {
                let mut c = Cols(r.iter());
                Ok(ExposureSnapshot {
                    month: c.text()?,
                    coworker_id: c.uuid()?,
                    accounts: c.int()?,
                    value_at_stake: c.int()?,
                    taken_at: c.int()?,
                })
            })
            .collect()
    }

    fn insert_exposure_snapshots(&mut self, rows: &[ExposureSnapshot]) -> StorageResult<()> {
        for r in rows {
            self.conn.exec(
                "INSERT INTO exposure_snapshots (month, coworker_id, accounts, value_at_stake, taken_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (month, coworker_id) DO NOTHING",
                &[
                    Value::Text(r.month.clone()),
                    Value::Text(r.coworker_id.to_string()),
                    Value::Int(r.accounts),
                    Value::Int(r.value_at_stake),
                    Value::Int(r.taken_at),
                ],
            )?;
        }
        Ok(())
    }

    fn upcoming_renewals(&mut self, from: &str, until: &str, limit: u32) -> StorageResult<Vec<Renewal>> {
        let rows = self.conn.rows(
            "SELECT k.id, k.name, coalesce(k.value, 0), coalesce(k.renewal_date, k.end_date), k.end_date, \
               a.id, a.name, a.owner_id, a.tier, a.fiscal_year_end_month \
             FROM contracts k JOIN accounts a ON a.id = k.account_id \
             WHERE k.deleted_at IS NULL AND a.deleted_at IS NULL AND k.status IN ('active', 'draft') \
               AND coalesce(k.renewal_date, k.end_date) >= $1 AND coalesce(k.renewal_date, k.end_date) <= $2 \
             ORDER BY coalesce(k.renewal_date, k.end_date), k.id LIMIT $3",
            &[Value::Text(from.into()), Value::Text(until.into()), Value::Int(i64::from(limit))],
        )?;
        rows.iter()
            .map(|r| {
                let mut c = Cols(r.iter());
                Ok(Renewal {
                    contract: c.uuid()?,
                    name: c.text()?,
                    value: c.int()?,
                    date: c.text()?,
                    end_date: c.opt_text()?,
                    account: c.uuid()?,
                    account_name: c.text()?,
                    account_owner: c.opt_uuid()?,
                    tier: c.opt_text()?,
                    fiscal_year_end_month: c.opt_int()?,
                })
            })
            .collect()
    }

    fn activities_per_week(&mut self, owners: Option<&[Uuid]>, since: i64) -> StorageResult<Vec<(i64, i64)>> {
        let week = 7 * holdfast_core::time::MICROS_PER_DAY;
        let mut params = vec![Value::Int(since)];
        let scope = owner_scope(&record::ACTIVITIES, owners, &mut params);
        let rows = self.conn.rows(
            &format!(
                "SELECT CAST((occurred_at - $1) / {week} AS BIGINT) AS w, count(*) FROM activities \
                 WHERE occurred_at >= $1 AND deleted_at IS NULL{scope} GROUP BY w ORDER BY w"
            ),
            &params,
        )?;
        rows.iter()
            .map(|r| {
                let mut c = Cols(r.iter());
                Ok((c.int()?, c.int()?))
            })
            .collect()
    }
}
