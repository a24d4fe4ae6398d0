//! The one thing both backends must do: run a statement with parameters and return rows of
//! [`Value`]s. Everything above (in `tx.rs`) is written once against this.

use holdfast_core::StorageError;
use holdfast_core::record::Value;
use holdfast_core::storage::Cell;

/// Which engine a connection talks to, where the SQL must differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A connection inside an open transaction.
pub trait Conn {
    fn backend(&self) -> Backend;
    /// Runs a statement (`$1`, `$2`… placeholders on both backends); returns rows changed.
    fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64, StorageError>;
    /// Runs a query and returns every row.
    fn rows(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, StorageError>;
    /// Runs a query and hands `f` each row as it comes, its cells borrowed (text columns and
    /// whole numbers only), so a query of any size reads in constant memory.
    fn each_row(
        &mut self,
        sql: &str,
        params: &[Value],
        f: &mut dyn FnMut(&[Cell<'_>]) -> Result<(), StorageError>,
    ) -> Result<(), StorageError>;
    /// This transaction is about to change many rows: give it the memory that makes that fast
    /// (SQLite: a large page cache for the transaction's length). Nothing on PostgreSQL.
    fn expect_many_changes(&mut self) -> Result<(), StorageError> {
        Ok(())
    }
}

/// Rewrites `$1` placeholders as SQLite's numbered `?1` (our SQL has no `$` anywhere else).
/// `$first, $first+1, …`: `count` placeholders for a list of values (`IN (…)`).
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

pub fn sqlite_placeholders(sql: &str) -> String {
    sql.replace('$', "?")
}
