//! The PostgreSQL backend: a small pool of synchronous clients (run on blocking threads), each
//! with its own prepared-statement cache.

use std::collections::HashMap;
use std::error::Error as _;
use std::sync::{Condvar, Mutex};

use bytes::BytesMut;
use holdfast_core::StorageError;
use holdfast_core::record::Value;
use holdfast_core::storage::Cell;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, NoTls, Statement};

use crate::conn::{Backend, Conn};
use crate::error::StoreError;

/// A pooled client and the statements prepared on it.
pub struct PgConn {
    pub client: Client,
    pub statements: HashMap<String, Statement>,
}

pub struct PgStore {
    url: String,
    idle: Mutex<(Vec<PgConn>, usize)>,
    freed: Condvar,
    max: usize,
}

impl PgStore {
    pub fn open(url: &str, max: usize) -> Result<PgStore, StoreError> {
        let store =
            PgStore { url: url.to_string(), idle: Mutex::new((Vec::new(), 0)), freed: Condvar::new(), max: max.max(1) };
        let first = store.connect()?;
        if let Ok(mut idle) = store.idle.lock() {
            idle.0.push(first);
            idle.1 = 1;
        }
        Ok(store)
    }

    fn connect(&self) -> Result<PgConn, StoreError> {
        let client = Client::connect(&self.url, NoTls).map_err(|e| {
            let cause = e.source().map(|s| s.to_string()).unwrap_or_else(|| e.to_string());
            StoreError::Open(format!("cannot connect to PostgreSQL at {}: {cause}", redact(&self.url)))
        })?;
        Ok(PgConn { client, statements: HashMap::new() })
    }

    /// Takes a client from the pool (connecting a new one while under the limit).
    pub fn take(&self) -> Result<PgConn, StorageError> {
        let mut idle = self.idle.lock().map_err(|_| StorageError::Other("pool poisoned".into()))?;
        loop {
            if let Some(c) = idle.0.pop() {
                if !c.client.is_closed() {
                    return Ok(c);
                }
                idle.1 -= 1;
                continue;
            }
            if idle.1 < self.max {
                idle.1 += 1;
                drop(idle);
                return match self.connect() {
                    Ok(c) => Ok(c),
                    Err(e) => {
                        if let Ok(mut idle) = self.idle.lock() {
                            idle.1 -= 1;
                        }
                        Err(StorageError::Other(e.to_string()))
                    }
                };
            }
            idle = self.freed.wait(idle).map_err(|_| StorageError::Other("pool poisoned".into()))?;
        }
    }

    pub fn give_back(&self, conn: PgConn) {
        if let Ok(mut idle) = self.idle.lock() {
            if conn.client.is_closed() {
                idle.1 -= 1;
            } else {
                idle.0.push(conn);
            }
        }
        self.freed.notify_one();
    }
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[derive(Debug)]
struct Param<'a>(&'a Value);

impl ToSql for Param<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self.0 {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                _ => i.to_string().to_sql(ty, out),
            },
            Value::Text(s) => match *ty {
                Type::INT8 => s.parse::<i64>()?.to_sql(ty, out),
                _ => s.as_str().to_sql(ty, out),
            },
        }
    }
    fn accepts(_: &Type) -> bool {
        true
    }
    to_sql_checked!();
}

pub(crate) fn map_err(e: postgres::Error) -> StorageError {
    if let Some(db) = e.as_db_error() {
        if *db.code() == postgres::error::SqlState::UNIQUE_VIOLATION {
            return StorageError::Duplicate(db.constraint().unwrap_or("value").to_string());
        }
        return StorageError::Other(format!("{}: {}", db.severity(), db.message()));
    }
    StorageError::Other(e.to_string())
}

/// A PostgreSQL transaction with its client's statement cache.
pub struct PgTxConn<'a, 'b> {
    pub tx: postgres::Transaction<'a>,
    pub statements: &'b mut HashMap<String, Statement>,
}

impl PgTxConn<'_, '_> {
    fn statement(&mut self, sql: &str) -> Result<Statement, StorageError> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.tx.prepare(sql).map_err(map_err)?;
        if self.statements.len() > 512 {
            self.statements.clear();
        }
        self.statements.insert(sql.to_string(), s.clone());
        Ok(s)
    }
}

impl Conn for PgTxConn<'_, '_> {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }
    fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64, StorageError> {
        let stmt = self.statement(sql)?;
        let ps: Vec<Param<'_>> = params.iter().map(Param).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = ps.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        self.tx.execute(&stmt, &refs).map_err(map_err)
    }
    fn rows(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, StorageError> {
        let stmt = self.statement(sql)?;
        let ps: Vec<Param<'_>> = params.iter().map(Param).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = ps.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        let rows = self.tx.query(&stmt, &refs).map_err(map_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut values = Vec::with_capacity(row.len());
            for (i, col) in row.columns().iter().enumerate() {
                let v = match *col.type_() {
                    Type::INT8 => row.try_get::<_, Option<i64>>(i).map_err(map_err)?.map(Value::Int),
                    Type::INT4 => row.try_get::<_, Option<i32>>(i).map_err(map_err)?.map(|n| Value::Int(n.into())),
                    Type::INT2 => row.try_get::<_, Option<i16>>(i).map_err(map_err)?.map(|n| Value::Int(n.into())),
                    Type::BOOL => row.try_get::<_, Option<bool>>(i).map_err(map_err)?.map(|b| Value::Int(b.into())),
                    _ => row.try_get::<_, Option<String>>(i).map_err(map_err)?.map(Value::Text),
                };
                values.push(v.unwrap_or(Value::Null));
            }
            out.push(values);
        }
        Ok(out)
    }
    fn each_row(
        &mut self,
        sql: &str,
        params: &[Value],
        f: &mut dyn FnMut(&[Cell<'_>]) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        use postgres::fallible_iterator::FallibleIterator;
        let stmt = self.statement(sql)?;
        let ps: Vec<Param<'_>> = params.iter().map(Param).collect();
        let mut rows = self.tx.query_raw(&stmt, ps.iter().map(|p| p as &dyn ToSql)).map_err(map_err)?;
        let mut ints: Vec<Option<i64>> = Vec::new();
        while let Some(row) = rows.next().map_err(map_err)? {
            ints.clear();
            for (i, col) in row.columns().iter().enumerate() {
                ints.push(match *col.type_() {
                    Type::INT8 => row.try_get::<_, Option<i64>>(i).map_err(map_err)?,
                    Type::INT4 => row.try_get::<_, Option<i32>>(i).map_err(map_err)?.map(i64::from),
                    _ => None,
                });
            }
            let mut cells = Vec::with_capacity(ints.len());
            for (i, col) in row.columns().iter().enumerate() {
                cells.push(match (*col.type_() == Type::INT8 || *col.type_() == Type::INT4, ints[i]) {
                    (true, Some(n)) => Cell::Int(n),
                    (true, None) => Cell::Null,
                    (false, _) => row.try_get::<_, Option<&str>>(i).map_err(map_err)?.map_or(Cell::Null, Cell::Text),
                });
            }
            f(&cells)?;
        }
        Ok(())
    }
}

impl Drop for PgStore {
    /// Closes the pooled clients on a plain thread: the synchronous client blocks on its own
    /// runtime when dropped, which would panic on an async runtime's thread.
    fn drop(&mut self) {
        let clients = match self.idle.lock() {
            Ok(mut idle) => std::mem::take(&mut idle.0),
            Err(_) => return,
        };
        if !clients.is_empty() {
            let _ = std::thread::spawn(move || drop(clients)).join();
        }
    }
}
