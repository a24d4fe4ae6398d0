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
//! A search whose matches sit together in that order (a last name typed, "smith" in last-name
//! order: no match before the S's) defeats the walk. On SQLite it is answered from the full-text
//! index's matches (row ids from its doclist, no row read) and the order's own index: the key
//! ranges the words begin ("smith", "Smith", "SMITH") are scanned there, each match found is
//! struck off and the first of the page kept; the few matches left are looked up; only the
//! page's rows are read. Where many matches lie outside the ranges ("Müller" for "mu"), the
//! full-text index's own plan answers.
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
use holdfast_core::storage::{Cell, RecordQuery, StorageResult};
use uuid::Uuid;

use crate::codec::{Cols, record_from_row};
use crate::conn::{Backend, Conn, placeholders};
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
/// A search with at most this many matches has each looked up (a few milliseconds), no range
/// scanned.
const FEW_MATCHES: usize = 4_000;
/// A search with more matches than this is answered by the full-text index's own plan.
const MOST_MATCHES: usize = 250_000;
/// Matches whose sort keys are read for other spellings of the words to scan.
const SAMPLED_KEYS: usize = 32;
/// At most this many matches' rows are read by a search through sort ranges.
const MOST_LOOKED_UP: usize = 4_000;

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

/// The FTS5 query for `words`: each a prefix, all of them.
pub(crate) fn fts_query(words: &[String]) -> String {
    words.iter().map(|w| format!("\"{}\"*", w.replace('"', ""))).collect::<Vec<_>>().join(" AND ")
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
            let decided: std::collections::HashSet<Uuid> =
                self.matching_ids(kind, &q.words, &unsure)?.into_iter().collect();
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

    /// SQLite: the page for a search the walk gave way on — above all one with many matches that
    /// sit together in the list's order (a last name typed: "smith" in last-name order) — found
    /// from the index's matches and the order's own index instead of fetching and sorting every
    /// matching row. The matches' row ids
    /// come from the full-text index (a doclist: no row read); the sort keys of those whose key
    /// begins with a word come from a scan of that key range of the order's index (no row read);
    /// the others' keys are looked up (all of them, for a search with few matches); only the
    /// page's rows are read. `None` when this does not apply or would not be cheaper (many
    /// matches outside the ranges, or hundreds of thousands).
    pub(crate) fn search_by_sort_ranges(
        &mut self,
        kind: &RecordKind,
        q: &RecordQuery,
    ) -> StorageResult<Option<Vec<Record>>> {
        let words_fit = !q.words.is_empty() && q.words.iter().all(|w| !w.is_empty());
        if self.conn.backend() != Backend::Sqlite || !words_fit || q.offset > 0 || !has_index(kind, q.sort) {
            return Ok(None);
        }
        let p = kind.plural;
        let mut matches = std::collections::HashSet::new();
        self.conn.each_row(
            &format!("SELECT rowid FROM {p}_fts WHERE {p}_fts MATCH $1 LIMIT $2"),
            &[Value::Text(fts_query(&q.words)), Value::Int(MOST_MATCHES as i64 + 1)],
            &mut |cells| {
                if let [Cell::Int(rid)] = cells {
                    matches.insert(*rid);
                }
                Ok(())
            },
        )?;
        if matches.len() > MOST_MATCHES {
            return Ok(None);
        }
        // Where the page starts, and whether a key comes after that in the page's order.
        let after = match &q.after {
            None => None,
            Some((Value::Text(key), id)) => Some((key.clone(), id.to_string())),
            Some(_) => return Ok(None),
        };
        let in_page = |key: &str, id: &str| match &after {
            None => true,
            Some((k, i)) if q.descending => (key, id) < (k.as_str(), i.as_str()),
            Some((k, i)) => (key, id) > (k.as_str(), i.as_str()),
        };
        let wanted = q.limit as usize + 1;
        // The page's candidates (key, id, rid): from each key range the words begin, scanned in
        // the page's order on the order's index, every match is struck off the list and the first
        // `wanted` on the page kept; the matches left are looked up.
        let sort = q.sort;
        let mut ranges: Vec<String> = Vec::new();
        // A few matches are all looked up (as the index's own plan would, without asking the
        // index again): no range is scanned.
        if matches.len() > FEW_MATCHES {
            for w in &q.words {
                let mut letters = w.chars();
                let capital: String =
                    letters.next().map(|c| c.to_uppercase().chain(letters).collect()).unwrap_or_default();
                for start in [w.clone(), capital, w.to_uppercase()] {
                    if !ranges.contains(&start) {
                        ranges.push(start);
                    }
                }
            }
            // Other spellings the index reads as a word ("Müller" for "mu"), from a few matches'
            // keys: their first letters, where the index reads those as the word.
            let sample: Vec<Value> = matches.iter().take(SAMPLED_KEYS).map(|r| Value::Int(*r)).collect();
            let rows = self.conn.rows(
                &format!("SELECT \"{sort}\" FROM {p} WHERE rid IN ({})", placeholders(1, sample.len())),
                &sample,
            )?;
            for row in rows {
                let Some(Value::Text(key)) = row.first() else { continue };
                for w in &q.words {
                    let start: String = key.chars().take(w.chars().count()).collect();
                    // (The tokenizer's table is learned only for letters beyond ASCII.)
                    let reads_as_word = if start.is_ascii() {
                        start.eq_ignore_ascii_case(w)
                    } else {
                        crate::sqlite::tokenizer_folding().is_some_and(|f| f.reads_as(&start, w))
                    };
                    if !ranges.contains(&start) && reads_as_word {
                        ranges.push(start);
                    }
                }
            }
        }
        let dir = if q.descending { "DESC" } else { "ASC" };
        let mut candidates: Vec<(String, String, i64)> = Vec::new();
        // Where a range had more matches on the page than it kept: its last kept (key, id). Past
        // the first such place no candidate can be trusted (the range's next match, not kept,
        // may come before it), so the page must be filled before it.
        let mut cut_at: Option<(String, String)> = None;
        for start in &ranges {
            let mut end = start.clone().into_bytes();
            if let Some(last) = end.last_mut() {
                *last += 1;
            }
            // (A last byte that cannot be raised: the range is skipped, its matches looked up.)
            let Ok(end) = String::from_utf8(end) else { continue };
            let mut kept = 0usize;
            self.conn.each_row(
                &format!(
                    "SELECT rid, \"{sort}\", id FROM {p} WHERE \"{sort}\" >= $1 AND \"{sort}\" < $2 ORDER BY \"{sort}\" {dir}, id {dir}"
                ),
                &[Value::Text(start.clone()), Value::Text(end)],
                &mut |cells| {
                    if let [Cell::Int(rid), Cell::Text(key), Cell::Text(id)] = cells
                        && matches.remove(rid)
                        && in_page(key, id)
                    {
                        if kept < wanted {
                            candidates.push((key.to_string(), id.to_string(), *rid));
                            kept += 1;
                        } else if kept == wanted {
                            kept += 1;
                            if let Some((last_key, last_id, _)) = candidates.last() {
                                let earlier = cut_at.as_ref().is_none_or(|(k, i)| {
                                    let (a, b) = ((last_key.as_str(), last_id.as_str()), (k.as_str(), i.as_str()));
                                    if q.descending { a > b } else { a < b }
                                });
                                if earlier {
                                    cut_at = Some((last_key.clone(), last_id.clone()));
                                }
                            }
                        }
                    }
                    Ok(())
                },
            )?;
        }
        if matches.len() > MOST_LOOKED_UP {
            return Ok(None);
        }
        let rest: Vec<i64> = matches.into_iter().collect();
        for chunk in rest.chunks(500) {
            let params: Vec<Value> = chunk.iter().map(|r| Value::Int(*r)).collect();
            let mut read = 0usize;
            self.conn.each_row(
                &format!("SELECT rid, \"{sort}\", id FROM {p} WHERE rid IN ({})", placeholders(1, chunk.len())),
                &params,
                &mut |cells| {
                    if let [Cell::Int(rid), Cell::Text(key), Cell::Text(id)] = cells {
                        read += 1;
                        if in_page(key, id) {
                            candidates.push((key.to_string(), id.to_string(), *rid));
                        }
                    }
                    Ok(())
                },
            )?;
            if read != chunk.len() {
                // A key that is not text, or a row gone (not expected): the index's own plan.
                return Ok(None);
            }
        }
        candidates.sort_unstable_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        if q.descending {
            candidates.reverse();
        }
        if let Some((k, i)) = &cut_at {
            // Only candidates up to the first cut.
            candidates.retain(|(key, id, _)| {
                let (a, b) = ((key.as_str(), id.as_str()), (k.as_str(), i.as_str()));
                if q.descending { a >= b } else { a <= b }
            });
        }
        // The page's rows in order, with the list's other conditions (not deleted, owners,
        // filters) checked on them; candidates that fail are passed over.
        let unfiltered = RecordQuery { words: Vec::new(), ..q.clone() };
        let sql = kind_sql(kind);
        let width = sql.columns.len();
        let mut found: Vec<Record> = Vec::new();
        let mut checked = 0usize;
        for chunk in candidates.chunks(wanted.max(64)) {
            if found.len() >= wanted {
                break;
            }
            if checked >= MOST_LOOKED_UP {
                return Ok(None);
            }
            checked += chunk.len();
            let mut params = Vec::new();
            let Some(mut wheres) = matching_conditions(Backend::Sqlite, kind, &unfiltered, &mut params) else {
                return Ok(Some(Vec::new()));
            };
            let first = params.len() + 1;
            params.extend(chunk.iter().map(|(_, _, rid)| Value::Int(*rid)));
            wheres.push(format!("rid IN ({})", placeholders(first, chunk.len())));
            let rows = self
                .conn
                .rows(&format!("{}, rid FROM {p} WHERE {}", sql.select_columns, wheres.join(" AND ")), &params)?;
            let mut by_rid = std::collections::HashMap::new();
            for row in rows {
                if let Some(Value::Int(rid)) = row.get(width) {
                    by_rid.insert(*rid, row);
                }
            }
            for (_, _, rid) in chunk {
                if let Some(row) = by_rid.get(rid) {
                    found.push(record_from_row(kind, row)?);
                    if found.len() == wanted {
                        break;
                    }
                }
            }
        }
        if found.len() < wanted && cut_at.is_some() {
            // Too many candidates before the first cut failed the other conditions: the index's plan.
            return Ok(None);
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
                params.push(Value::Text(fts_query(words)));
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

        let rows = self.conn.rows(
            &format!("SELECT id FROM {} WHERE id IN ({}) AND {condition}", kind.plural, placeholders(2, ids.len())),
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
        let sqlite = sqlite.expect("learned");
        assert!(sqlite.reads_as("Mü", "mu") && sqlite.reads_as("SMÍ", "smi"), "another spelling of the word");
        assert!(!sqlite.reads_as("Mx", "mu") && !sqlite.reads_as("M-", "m"), "not the word, or not one word");
        assert_eq!(
            words_begin_words("tanaka 😀x", &words(&["x"]), Some(sqlite)),
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
                    let verdict = words_begin_words(&text, &words, tokenizer_folding());
                    prop_assert!(verdict.is_some() || !text.is_ascii(), "ASCII text is always judged here");
                    if let Some(decided) = verdict {
                        prop_assert_eq!(decided, index_matches(&conn, &text, &words), "{:?} {:?}", text, words);
                    }
                }
            }
        }
    }
}
