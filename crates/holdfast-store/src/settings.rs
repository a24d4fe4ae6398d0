//! Installation settings, as text by key.

use holdfast_core::record::Value;
use holdfast_core::storage::{SettingStore, StorageResult};

use crate::conn::{Backend, Conn};
use crate::tx::SqlTx;

impl<C: Conn> SettingStore for SqlTx<C> {
    fn announce_settings(&mut self, version: i64) -> StorageResult<()> {
        match self.conn.backend() {
            Backend::Postgres => {
                self.conn.exec(
                    "SELECT pg_notify($1, $2)",
                    &[Value::Text(crate::settings_watch::CHANNEL.into()), Value::Text(version.to_string())],
                )?;
            }
            // SQLite has one server per file, which checks the version on every request; it is
            // kept in the file's header too (page 1, which every transaction has read already),
            // so the check is not a lookup of its own.
            Backend::Sqlite => {
                let version = i32::try_from(version)
                    .map_err(|_| holdfast_core::StorageError::Other("the settings version is too large".into()))?;
                self.conn.exec(&format!("PRAGMA user_version = {version}"), &[])?;
            }
        }
        Ok(())
    }

    fn settings_version(&mut self) -> StorageResult<i64> {
        Ok(match self.conn.backend() {
            Backend::Sqlite => {
                let rows = self.conn.rows("PRAGMA user_version", &[])?;
                rows.first().and_then(|r| r.first()).and_then(Value::as_int).unwrap_or(0)
            }
            Backend::Postgres => {
                self.get_setting(holdfast_core::service::SETTINGS_VERSION)?.and_then(|v| v.parse().ok()).unwrap_or(0)
            }
        })
    }

    fn get_setting(&mut self, key: &str) -> StorageResult<Option<String>> {
        let rows = self.conn.rows("SELECT value FROM settings WHERE key = $1", &[Value::Text(key.into())])?;
        Ok(rows.first().and_then(|r| r.first()).and_then(|v| v.as_text().map(String::from)))
    }

    fn set_setting(&mut self, key: &str, value: &str) -> StorageResult<()> {
        self.conn.exec(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[Value::Text(key.into()), Value::Text(value.into())],
        )?;
        Ok(())
    }
}
