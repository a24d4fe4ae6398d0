//! Co-workers, teams, and credentials (sessions and API tokens, stored as the SHA-256 of their
//! secret).

use holdfast_core::coworker::{CoWorker, Identity, Team};
use holdfast_core::record::Value;
use holdfast_core::storage::{CoWorkerStore, Credential, SecondFactor, SignInRequest, StorageResult};
use uuid::Uuid;

use crate::codec::{Cols, coworker_from_row, coworker_params, credential_from_row, opt_int, opt_text, opt_uuid};
use crate::conn::Conn;
use crate::tx::SqlTx;

const COWORKER_COLUMNS: &str = "id, email, name, role, status, seniority, team_id, manager_id, title, password_hash, created_at, updated_at, password_must_change";
const IDENTITY_COLUMNS: &str = "coworker_id, external_id, given_name, family_name, department, removed_at, deactivated_at, sso_subject, provisioned_at, updated_at";
const CREDENTIAL_COLUMNS: &str =
    "id, coworker_id, kind, name, secret_hash, created_at, expires_at, last_used_at, revoked_at";

impl<C: Conn> CoWorkerStore for SqlTx<C> {
    fn insert_coworker(&mut self, c: &CoWorker) -> StorageResult<()> {
        self.conn.exec(
            &format!(
                "INSERT INTO coworkers ({COWORKER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
            ),
            &coworker_params(c),
        )?;
        Ok(())
    }

    fn update_coworker(&mut self, c: &CoWorker) -> StorageResult<()> {
        self.conn.exec(
            "UPDATE coworkers SET email = $2, name = $3, role = $4, status = $5, seniority = $6, team_id = $7, manager_id = $8, title = $9, password_hash = $10, created_at = $11, updated_at = $12, password_must_change = $13 WHERE id = $1",
            &coworker_params(c),
        )?;
        Ok(())
    }

    fn get_coworker(&mut self, id: Uuid) -> StorageResult<Option<CoWorker>> {
        let rows = self
            .conn
            .rows(&format!("SELECT {COWORKER_COLUMNS} FROM coworkers WHERE id = $1"), &[Value::Text(id.to_string())])?;
        rows.first().map(|r| coworker_from_row(r)).transpose()
    }

    fn get_coworker_by_email(&mut self, email: &str) -> StorageResult<Option<CoWorker>> {
        let rows = self.conn.rows(
            &format!("SELECT {COWORKER_COLUMNS} FROM coworkers WHERE email = $1"),
            &[Value::Text(email.into())],
        )?;
        rows.first().map(|r| coworker_from_row(r)).transpose()
    }

    fn list_coworkers(&mut self) -> StorageResult<Vec<CoWorker>> {
        let rows = self.conn.rows(&format!("SELECT {COWORKER_COLUMNS} FROM coworkers ORDER BY name, id"), &[])?;
        rows.iter().map(|r| coworker_from_row(r)).collect()
    }

    fn insert_team(&mut self, t: &Team) -> StorageResult<()> {
        self.conn.exec(
            "INSERT INTO teams (id, name, manager_id) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET name = excluded.name, manager_id = excluded.manager_id",
            &[Value::Text(t.id.to_string()), Value::Text(t.name.clone()), opt_uuid(t.manager_id)],
        )?;
        Ok(())
    }

    fn list_teams(&mut self) -> StorageResult<Vec<Team>> {
        let rows = self.conn.rows("SELECT id, name, manager_id FROM teams ORDER BY name", &[])?;
        rows.iter()
            .map(|r| {
                let mut c = Cols(r.iter());
                Ok(Team { id: c.uuid()?, name: c.text()?, manager_id: c.opt_uuid()? })
            })
            .collect()
    }

    fn insert_credential(&mut self, c: &Credential) -> StorageResult<()> {
        self.conn.exec(
            &format!("INSERT INTO credentials ({CREDENTIAL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"),
            &[
                Value::Text(c.id.to_string()),
                Value::Text(c.coworker_id.to_string()),
                Value::Text(c.kind.clone()),
                Value::Text(c.name.clone()),
                Value::Text(c.secret_hash.clone()),
                Value::Int(c.created_at),
                opt_int(c.expires_at),
                opt_int(c.last_used_at),
                opt_int(c.revoked_at),
            ],
        )?;
        Ok(())
    }

    fn find_credential(&mut self, secret_hash: &str) -> StorageResult<Option<Credential>> {
        let rows = self.conn.rows(
            &format!("SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE secret_hash = $1"),
            &[Value::Text(secret_hash.into())],
        )?;
        rows.first().map(|r| credential_from_row(r)).transpose()
    }

    fn touch_credential(&mut self, id: Uuid, at: i64) -> StorageResult<()> {
        self.conn.exec(
            "UPDATE credentials SET last_used_at = $2 WHERE id = $1",
            &[Value::Text(id.to_string()), Value::Int(at)],
        )?;
        Ok(())
    }

    fn revoke_credentials(&mut self, coworker_id: Uuid, only: Option<Uuid>, at: i64) -> StorageResult<usize> {
        let n = match only {
            Some(id) => self.conn.exec(
                "UPDATE credentials SET revoked_at = $3 WHERE coworker_id = $1 AND id = $2 AND revoked_at IS NULL",
                &[Value::Text(coworker_id.to_string()), Value::Text(id.to_string()), Value::Int(at)],
            )?,
            None => self.conn.exec(
                "UPDATE credentials SET revoked_at = $2 WHERE coworker_id = $1 AND revoked_at IS NULL",
                &[Value::Text(coworker_id.to_string()), Value::Int(at)],
            )?,
        };
        Ok(n as usize)
    }

    fn list_credentials(&mut self, coworker_id: Uuid) -> StorageResult<Vec<Credential>> {
        let rows = self.conn.rows(
            &format!("SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE coworker_id = $1 ORDER BY created_at DESC"),
            &[Value::Text(coworker_id.to_string())],
        )?;
        rows.iter().map(|r| credential_from_row(r)).collect()
    }

    fn delete_team(&mut self, id: Uuid) -> StorageResult<()> {
        self.conn.exec("DELETE FROM teams WHERE id = $1", &[Value::Text(id.to_string())])?;
        Ok(())
    }

    fn list_identities(&mut self) -> StorageResult<Vec<Identity>> {
        let rows = self.conn.rows(&format!("SELECT {IDENTITY_COLUMNS} FROM coworker_identities"), &[])?;
        rows.iter().map(|r| identity_from_row(r)).collect()
    }

    fn get_identity(&mut self, coworker_id: Uuid) -> StorageResult<Option<Identity>> {
        let rows = self.conn.rows(
            &format!("SELECT {IDENTITY_COLUMNS} FROM coworker_identities WHERE coworker_id = $1"),
            &[Value::Text(coworker_id.to_string())],
        )?;
        rows.first().map(|r| identity_from_row(r)).transpose()
    }

    fn put_identity(&mut self, i: &Identity) -> StorageResult<()> {
        self.conn.exec(
            &format!(
                "INSERT INTO coworker_identities ({IDENTITY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (coworker_id) DO UPDATE SET external_id = excluded.external_id, \
                 given_name = excluded.given_name, family_name = excluded.family_name, \
                 department = excluded.department, removed_at = excluded.removed_at, \
                 deactivated_at = excluded.deactivated_at, sso_subject = excluded.sso_subject, \
                 provisioned_at = excluded.provisioned_at, \
                 updated_at = excluded.updated_at"
            ),
            &[
                Value::Text(i.coworker_id.to_string()),
                opt_text(i.external_id.as_deref()),
                opt_text(i.given_name.as_deref()),
                opt_text(i.family_name.as_deref()),
                opt_text(i.department.as_deref()),
                opt_int(i.removed_at),
                opt_int(i.deactivated_at),
                opt_text(i.sso_subject.as_deref()),
                opt_int(i.provisioned_at),
                Value::Int(i.updated_at),
            ],
        )?;
        Ok(())
    }

    fn insert_sign_in_request(&mut self, r: &SignInRequest, stale_before: i64) -> StorageResult<()> {
        self.conn.exec("DELETE FROM sign_in_requests WHERE created_at < $1", &[Value::Int(stale_before)])?;
        self.conn.exec(
            "INSERT INTO sign_in_requests (state_hash, nonce, pkce_verifier, next, created_at) VALUES ($1, $2, $3, $4, $5)",
            &[
                Value::Text(r.state_hash.clone()),
                Value::Text(r.nonce.clone()),
                Value::Text(r.pkce_verifier.clone()),
                Value::Text(r.next.clone()),
                Value::Int(r.created_at),
            ],
        )?;
        Ok(())
    }

    fn take_sign_in_request(&mut self, state_hash: &str) -> StorageResult<Option<SignInRequest>> {
        let rows = self.conn.rows(
            "DELETE FROM sign_in_requests WHERE state_hash = $1 RETURNING state_hash, nonce, pkce_verifier, next, created_at",
            &[Value::Text(state_hash.into())],
        )?;
        rows.first()
            .map(|r| {
                let mut c = Cols(r.iter());
                Ok(SignInRequest {
                    state_hash: c.text()?,
                    nonce: c.text()?,
                    pkce_verifier: c.text()?,
                    next: c.text()?,
                    created_at: c.int()?,
                })
            })
            .transpose()
    }

    fn get_second_factor(&mut self, coworker_id: Uuid) -> StorageResult<Option<SecondFactor>> {
        let rows = self.conn.rows(
            "SELECT coworker_id, secret, confirmed_at, last_step, created_at FROM second_factors WHERE coworker_id = $1",
            &[Value::Text(coworker_id.to_string())],
        )?;
        rows.first()
            .map(|r| {
                let mut c = Cols(r.iter());
                Ok(SecondFactor {
                    coworker_id: c.uuid()?,
                    secret: c.text()?,
                    confirmed_at: c.opt_int()?,
                    last_step: c.opt_int()?,
                    created_at: c.int()?,
                })
            })
            .transpose()
    }

    fn put_second_factor(&mut self, f: &SecondFactor) -> StorageResult<()> {
        if f.confirmed_at.is_none() {
            self.conn
                .exec("DELETE FROM recovery_codes WHERE coworker_id = $1", &[Value::Text(f.coworker_id.to_string())])?;
        }
        self.conn.exec(
            "INSERT INTO second_factors (coworker_id, secret, confirmed_at, last_step, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (coworker_id) DO UPDATE SET secret = excluded.secret, confirmed_at = excluded.confirmed_at, \
             last_step = excluded.last_step, created_at = excluded.created_at",
            &[
                Value::Text(f.coworker_id.to_string()),
                Value::Text(f.secret.clone()),
                opt_int(f.confirmed_at),
                opt_int(f.last_step),
                Value::Int(f.created_at),
            ],
        )?;
        Ok(())
    }

    fn advance_second_factor(&mut self, coworker_id: Uuid, step: i64) -> StorageResult<bool> {
        let n = self.conn.exec(
            "UPDATE second_factors SET last_step = $2 WHERE coworker_id = $1 AND (last_step IS NULL OR last_step < $2)",
            &[Value::Text(coworker_id.to_string()), Value::Int(step)],
        )?;
        Ok(n == 1)
    }

    fn delete_second_factor(&mut self, coworker_id: Uuid) -> StorageResult<()> {
        let id = [Value::Text(coworker_id.to_string())];
        self.conn.exec("DELETE FROM recovery_codes WHERE coworker_id = $1", &id)?;
        self.conn.exec("DELETE FROM second_factors WHERE coworker_id = $1", &id)?;
        Ok(())
    }

    fn insert_recovery_codes(&mut self, coworker_id: Uuid, code_hashes: &[String], at: i64) -> StorageResult<()> {
        self.conn.exec("DELETE FROM recovery_codes WHERE coworker_id = $1", &[Value::Text(coworker_id.to_string())])?;
        for h in code_hashes {
            self.conn.exec(
                "INSERT INTO recovery_codes (coworker_id, code_hash, created_at) VALUES ($1, $2, $3)",
                &[Value::Text(coworker_id.to_string()), Value::Text(h.clone()), Value::Int(at)],
            )?;
        }
        Ok(())
    }

    fn use_recovery_code(&mut self, coworker_id: Uuid, code_hash: &str, at: i64) -> StorageResult<bool> {
        let n = self.conn.exec(
            "UPDATE recovery_codes SET used_at = $3 WHERE coworker_id = $1 AND code_hash = $2 AND used_at IS NULL",
            &[Value::Text(coworker_id.to_string()), Value::Text(code_hash.into()), Value::Int(at)],
        )?;
        Ok(n == 1)
    }

    fn unused_recovery_codes(&mut self, coworker_id: Uuid) -> StorageResult<i64> {
        let rows = self.conn.rows(
            "SELECT COUNT(*) FROM recovery_codes WHERE coworker_id = $1 AND used_at IS NULL",
            &[Value::Text(coworker_id.to_string())],
        )?;
        Ok(rows.first().and_then(|r| r.first()).and_then(|v| v.as_int()).unwrap_or(0))
    }
}

fn identity_from_row(row: &[Value]) -> StorageResult<Identity> {
    let mut c = Cols(row.iter());
    Ok(Identity {
        coworker_id: c.uuid()?,
        external_id: c.opt_text()?,
        given_name: c.opt_text()?,
        family_name: c.opt_text()?,
        department: c.opt_text()?,
        removed_at: c.opt_int()?,
        deactivated_at: c.opt_int()?,
        sso_subject: c.opt_text()?,
        provisioned_at: c.opt_int()?,
        updated_at: c.int()?,
    })
}
