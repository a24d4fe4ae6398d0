//! Searches whose words match much of a table ("a", "com", the first letters typed into a search
//! box), listed by walking the table in the list's own order and testing each row's search text,
//! so that a page costs about a page of rows.
//!
//! Through the full-text index such a search fetches every match and sorts them all before the
//! first page can be returned: a one-letter prefix over a million contacts took 450 ms, bare in
//! SQLite (docs/benchmarks.md). A walk in an indexed order stops at the page's last row. It is
//! tried only where it can be exact and cheap: the words are ASCII, the order has an index, the
//! query pages by cursor (no offset). A walk that finds too few matches in its first rows gives
//! way to the full-text index, having read a few dozen rows.
//!
//! The test of a row is the index's own rule: every word must begin a word of the row's search
//! text as the index splits and folds it. Text that is ASCII splits and folds the same way in
//! SQLite's `unicode61` tokenizer and in PostgreSQL's parser with the `simple` configuration
//! (letters and digits, lower-cased). Other letters are read on SQLite as its tokenizer reads them,
//! learned from SQLite itself ([`crate::sqlite::tokenizer_folding`]: "Müller" is read "muller");
//! where a row's decision rests on characters not told here (PostgreSQL reads letters by the
//! database's locale; characters beyond the Basic Multilingual Plane), the index decides for those
//! rows, one query per batch, and a walk with many such rows gives way.

use holdfast_core::record::{Record, RecordKind, Value};
use holdfast_core::storage::{RecordQuery, StorageResult};
use uuid::Uuid;

use crate::codec::{Cols, record_from_row};
use crate::conn::{Backend, Conn};
use crate::records::{kind_sql, matching_conditions, sort_expression};
use crate::sqlite::{Reading, TokenizerFolding};
use crate::tx::SqlTx;

/// Rows read in the walk's first batch; a walk that finds no match in them gives way at once.
const FIRST_BATCH: usize = 64;
/// At most this many rows are read by a walk before it gives way to the full-text index.
const MOST_ROWS: usize = 8_192;
/// On SQLite, at most this many rows a walk cannot judge by itself are asked of the index, one
/// query each (a query for a broad prefix costs tens of milliseconds whatever its row).
const MOST_ASKED_SQLITE: usize = 8;

/// The orders the walk may take: each has an index that returns rows in that order (see
/// `migrations/common.sql`: `accounts_by_name`, `contacts_by_last_name`). In any other order a
/// batch would sort the whole table.
fn has_index(kind: &RecordKind, sort: &str) -> bool {
    matches!((kind.plural, sort), ("accounts", "name") | ("contacts", "last_name"))
}

/// Whether every one of `words` (lower-case ASCII letters and digits) begins a word of `text` as
/// the full-text index splits and folds it, when that can be told here: `None` when some word
/// begins no word told here and the text has a part whose characters `folding` does not know.
pub(crate) fn words_begin_words(text: &str, words: &[String], folding: Option<&TokenizerFolding>) -> Option<bool> {
    let all = (1u32 << words.len().min(31)) - 1;
    let mut found = 0u32;
    let mut unsure = false;
    // The words (as bits) that begin `word`.
    let begun = |word: &str| {
        words.iter().enumerate().take(31).fold(0u32, |bits, (i, w)| {
            let begins = word.len() >= w.len() && word.as_bytes()[..w.len()].eq_ignore_ascii_case(w.as_bytes());
            if begins { bits | 1 << i } else { bits }
        })
    };
    let mut folded = String::new();
    for part in text.split(|c: char| c.is_ascii() && !c.is_ascii_alphanumeric()).filter(|p| !p.is_empty()) {
        if part.is_ascii() {
            found |= begun(part);
        } else if let Some(folding) = folding {
            // The part's words as the index reads them, or none if a character is not known.
            let mut words_here = Vec::new();
            folded.clear();
            let mut known = true;
            for c in part.chars() {
                match folding.read(c) {
                    Reading::Letter(f) => folded.push(f),
                    Reading::Dropped => {}
                    Reading::Separator => words_here.push(std::mem::take(&mut folded)),
                    Reading::Unknown => {
                        known = false;
                        break;
                    }
                }
            }
            if known {
                words_here.push(std::mem::take(&mut folded));
                for w in words_here.iter().filter(|w| !w.is_empty()) {
                    found |= begun(w);
                }
            } else {
                unsure = true;
            }
        } else {
            unsure = true;
        }
        if found == all {
            return Some(true);
        }
    }
    if unsure { None } else { Some(false) }
}

impl<C: Conn> SqlTx<C> {
    /// The page `list_records` would return for a search, found by walking the kind's rows in
    /// the page's order; `None` when the walk does not apply or gave way (the caller then asks
    /// the full-text index).
    pub(crate) fn walk_for_broad_search(
        &mut self,
        kind: &RecordKind,
        q: &RecordQuery,
    ) -> StorageResult<Option<Vec<Record>>> {
        let words_fit = !q.words.is_empty() && q.words.len() <= 31 && q.words.iter().all(|w| w.is_ascii());
        if !words_fit || q.offset > 0 || !has_index(kind, q.sort) {
            return Ok(None);
        }
        let wanted = q.limit as usize + 1;
        let backend = self.conn.backend();
        let unfiltered = RecordQuery { words: Vec::new(), ..q.clone() };
        let sort = sort_expression(kind, q);
        let (dir, cmp) = if q.descending { ("DESC", "<") } else { ("ASC", ">") };
        let sql = kind_sql(kind);
        let width = sql.columns.len();
        let mut after = q.after.clone();
        let mut found: Vec<Record> = Vec::new();
        let mut read = 0usize;
        let mut batch = FIRST_BATCH;
        // PostgreSQL's parser reads letters by the database's locale: only ASCII is told here;
        // the rest is asked in one query per batch.
        let most_asked = if backend == Backend::Sqlite { MOST_ASKED_SQLITE } else { MOST_ROWS };
        let mut asked = 0usize;
        loop {
            let mut params = Vec::new();
            let Some(mut wheres) = matching_conditions(backend, kind, &unfiltered, &mut params) else {
                return Ok(Some(Vec::new()));
            };
            if let Some((value, id)) = &after {
                params.push(value.clone());
                params.push(Value::Text(id.to_string()));
                wheres.push(format!("({sort}, id) {cmp} (${}, ${})", params.len() - 1, params.len()));
            }
            params.push(Value::Int(batch as i64));
            let text = format!(
                "{}, search_text, {sort} FROM {} WHERE {} ORDER BY {sort} {dir}, id {dir} LIMIT ${}",
                sql.select_columns,
                kind.plural,
                wheres.join(" AND "),
                params.len()
            );
            let rows = self.conn.rows(&text, &params)?;
            read += rows.len();
            let mut verdicts = Vec::with_capacity(rows.len());
            let mut unsure = Vec::new();
            for row in &rows {
                let text = match row.get(width) {
                    Some(Value::Text(t)) => t.as_str(),
                    _ => "",
                };
                let mut verdict = words_begin_words(text, &q.words, None);
                if verdict.is_none() && backend == Backend::Sqlite {
                    // Learned on the first row that needs it (~0.1 s once per process).
                    verdict = words_begin_words(text, &q.words, crate::sqlite::tokenizer_folding());
                }
                if verdict.is_none() {
                    unsure.push(Cols(row.iter()).uuid()?);
                }
                verdicts.push(verdict);
            }
            asked += unsure.len();
            if asked > most_asked {
                return Ok(None);
            }
            let decided = self.matching_ids(kind, &q.words, &unsure)?;
            for (row, verdict) in rows.iter().zip(verdicts) {
                let matches = match verdict {
                    Some(m) => m,
                    None => decided.contains(&Cols(row.iter()).uuid()?),
                };
                if matches {
                    found.push(record_from_row(kind, row)?);
                    if found.len() == wanted {
                        break;
                    }
                }
            }
            let exhausted = rows.len() < batch;
            if found.len() == wanted || exhausted {
                break;
            }
            // Rows the rest of the page is likely to need, from the matches seen so far.
            let needed = match found.len() {
                0 => return Ok(None),
                n => (wanted - n) * read / n,
            };
            if read + needed > MOST_ROWS {
                return Ok(None);
            }
            let Some(last) = rows.last() else { break };
            after = Some((last.get(width + 1).cloned().unwrap_or(Value::Null), Cols(last.iter()).uuid()?));
            batch = (needed + needed / 2 + 16).min(MOST_ROWS - read);
        }
        self.load_links(kind, &mut found)?;
        Ok(Some(found))
    }

    /// Which of `ids` the full-text index finds for `words` (rows whose search text the walk
    /// cannot judge by itself).
    fn matching_ids(&mut self, kind: &RecordKind, words: &[String], ids: &[Uuid]) -> StorageResult<Vec<Uuid>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut params: Vec<Value> = Vec::with_capacity(ids.len() + 1);
        let condition = match self.conn.backend() {
            Backend::Sqlite => {
                let m = words.iter().map(|w| format!("\"{}\"*", w.replace('"', ""))).collect::<Vec<_>>().join(" AND ");
                params.push(Value::Text(m));
                format!(
                    "EXISTS (SELECT 1 FROM {p}_fts WHERE {p}_fts MATCH $1 AND {p}_fts.rowid = {p}.rid)",
                    p = kind.plural
                )
            }
            Backend::Postgres => {
                let m = words.iter().map(|w| format!("{w}:*")).collect::<Vec<_>>().join(" & ");
                params.push(Value::Text(m));
                "to_tsvector('simple', search_text) @@ to_tsquery('simple', $1)".to_string()
            }
        };
        params.extend(ids.iter().map(|id| Value::Text(id.to_string())));
        let listed: Vec<String> = (2..=params.len()).map(|i| format!("${i}")).collect();
        let rows = self.conn.rows(
            &format!("SELECT id FROM {} WHERE id IN ({}) AND {condition}", kind.plural, listed.join(", ")),
            &params,
        )?;
        rows.iter().map(|r| Cols(r.iter()).uuid()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::words_begin_words;
    use crate::sqlite::tokenizer_folding;

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn ascii_text_is_judged_here() {
        let text = "olivia smith olivia smith 12 company12 com 1555 account manager";
        for folding in [None, tokenizer_folding()] {
            assert_eq!(words_begin_words(text, &words(&["a"]), folding), Some(true));
            assert_eq!(words_begin_words(text, &words(&["oli", "smi"]), folding), Some(true));
            assert_eq!(words_begin_words(text, &words(&["oli", "smx"]), folding), Some(false));
            assert_eq!(words_begin_words(text, &words(&["livia"]), folding), Some(false), "a word's middle");
            assert_eq!(words_begin_words("Olivia-Smith", &words(&["smith"]), folding), Some(true));
        }
    }

    #[test]
    fn other_letters_are_read_as_sqlite_reads_them_or_left_to_the_index() {
        let text = "lena müller 1555 account manager";
        let sqlite = tokenizer_folding();
        assert!(sqlite.is_some(), "the tokenizer's folding is learned from SQLite");
        assert_eq!(words_begin_words(text, &words(&["acc"]), None), Some(true), "decided by an ASCII word");
        assert_eq!(words_begin_words(text, &words(&["mu"]), None), None, "PostgreSQL: left to the index");
        assert_eq!(words_begin_words(text, &words(&["mu"]), sqlite), Some(true), "SQLite drops the diaeresis");
        assert_eq!(words_begin_words(text, &words(&["zz"]), sqlite), Some(false));
        assert_eq!(words_begin_words("東京 tanaka", &words(&["zz"]), sqlite), Some(false));
        assert_eq!(
            words_begin_words("tanaka 😀x", &words(&["x"]), sqlite),
            None,
            "beyond the plane: left to the index"
        );
    }

    mod against_sqlite {
        use super::*;
        use proptest::prelude::*;

        /// What SQLite's own index says: does the FTS5 query of `words` match `text`?
        fn index_matches(conn: &rusqlite::Connection, text: &str, words: &[String]) -> bool {
            conn.execute("DELETE FROM t", []).expect("clear");
            conn.execute("INSERT INTO t (rowid, x) VALUES (1, ?1)", [text]).expect("insert");
            let query = words.iter().map(|w| format!("\"{w}\"*")).collect::<Vec<_>>().join(" AND ");
            conn.query_row("SELECT count(*) FROM t WHERE t MATCH ?1", [query], |r| r.get::<_, i64>(0)).expect("match")
                > 0
        }

        proptest! {
            /// Whenever the walk decides a row by itself, it decides as the index would, for text
            /// mixing ASCII, accented Latin, Greek, Cyrillic, combining marks, CJK and punctuation.
            #[test]
            fn a_decided_row_is_decided_as_the_index_decides(
                text in "[aeosxzAEOS09 .@+\\-àáäåæçéëïñöøœßşıžłđþÀÉÖÜÇİŁŒαβΩЖжё\u{0300}\u{0301}\u{0308}東·ー々〇ｘ😀\u{200d}]{0,24}",
                words in proptest::collection::vec("[aeosxz09]{1,2}", 1..3),
            ) {
                let conn = rusqlite::Connection::open_in_memory().expect("open");
                conn.execute_batch("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='unicode61 remove_diacritics 2')").expect("create");
                // Stored search text is lower-cased by Holdfast; raw text is checked too.
                for text in [text.clone(), text.to_lowercase()] {
                    if let Some(decided) = words_begin_words(&text, &words, tokenizer_folding()) {
                        prop_assert_eq!(decided, index_matches(&conn, &text, &words), "{:?} {:?}", text, words);
                    }
                }
            }
        }
    }
}
