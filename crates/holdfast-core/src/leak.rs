//! Leak tracing without the data: the keyed marks an export's rows leave behind (its
//! fingerprint), the canary people placed among its rows, and reading a file found in the wild
//! (CSV in any of the shapes Excel saves, XLSX, vCard) back into rows that can be marked the
//! same way. Nothing here touches storage; `service::leak_tracing` does.
//!
//! A mark is a 64-bit keyed hash (SipHash-1-3 under the installation's own key) of one
//! normalised identifier of a row: its id, email, phone (last nine digits), name or domain. The
//! same value gives the same mark in the export and in the found file, whatever the file's column
//! order, names, separators or encoding; without the key a mark says nothing about the value.

use std::hash::Hasher;
use std::io::Cursor;

use rand::RngExt;
use sha2::{Digest, Sha256};
use siphasher::sip::SipHasher13;
use uuid::Uuid;

/// What a mark was taken of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    Id = b'i' as isize,
    Email = b'e' as isize,
    Phone = b'p' as isize,
    Name = b'n' as isize,
    Domain = b'd' as isize,
}

/// The installation's fingerprint key.
#[derive(Clone)]
pub struct MarkKey {
    k0: u64,
    k1: u64,
}

impl std::fmt::Debug for MarkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MarkKey(..)")
    }
}

impl MarkKey {
    /// The key derived from the installation's secret (a setting made at install time).
    pub fn from_secret(secret: &str) -> MarkKey {
        let d = Sha256::new().chain_update(b"holdfast export fingerprint\0").chain_update(secret.as_bytes()).finalize();
        let mut a = [0u8; 8];
        let mut b = [0u8; 8];
        a.copy_from_slice(&d[..8]);
        b.copy_from_slice(&d[8..16]);
        MarkKey { k0: u64::from_le_bytes(a), k1: u64::from_le_bytes(b) }
    }

    fn hasher(&self, tag: Tag) -> SipHasher13 {
        let mut h = SipHasher13::new_with_keys(self.k0, self.k1);
        h.write_u8(tag as u8);
        h
    }

    /// The mark of a normalised value.
    pub fn mark(&self, tag: Tag, normalised: &str) -> u64 {
        let mut h = self.hasher(tag);
        h.write(normalised.as_bytes());
        h.finish() & MARK_MASK
    }

    /// An id's mark (of its 16 bytes).
    pub fn id_mark(&self, id: &Uuid) -> u64 {
        let mut h = self.hasher(Tag::Id);
        h.write(id.as_bytes());
        h.finish() & MARK_MASK
    }

    /// The mark of an email as [`norm_email`] would give it, without making the string.
    fn email_mark(&self, raw: &str) -> Option<u64> {
        let t = raw.trim().trim_matches(['<', '>', '"', '\'']);
        let t = t.strip_prefix("mailto:").or_else(|| t.strip_prefix("MAILTO:")).unwrap_or(t).trim();
        if !t.is_ascii() {
            return norm_email(raw).map(|e| self.mark(Tag::Email, &e));
        }
        let (local, domain) = t.split_once('@')?;
        if local.is_empty()
            || !domain.contains('.')
            || domain.ends_with('.')
            || t.bytes().any(|b| b.is_ascii_whitespace())
        {
            return None;
        }
        let mut lower = [0u8; 320];
        let Some(buf) = lower.get_mut(..t.len()) else {
            return norm_email(raw).map(|e| self.mark(Tag::Email, &e));
        };
        buf.copy_from_slice(t.as_bytes());
        buf.make_ascii_lowercase();
        let mut h = self.hasher(Tag::Email);
        h.write(buf);
        Some(h.finish() & MARK_MASK)
    }

    /// The mark of a phone's last nine digits, as [`norm_phone`] would give them.
    fn phone_mark(&self, raw: &str) -> Option<u64> {
        let mut digits = [0u8; 20];
        let mut n = 0usize;
        for b in raw.bytes().filter(u8::is_ascii_digit) {
            if n == digits.len() {
                return None;
            }
            digits[n] = b;
            n += 1;
        }
        if n < 7 {
            return None;
        }
        let mut h = self.hasher(Tag::Phone);
        h.write(&digits[n.saturating_sub(9)..n]);
        Some(h.finish() & MARK_MASK)
    }

    /// The mark of a name made of some parts, as [`norm_name`] would give it for the parts
    /// joined by a space.
    fn name_mark(&self, parts: &[&str]) -> Option<u64> {
        // Plain ASCII names (most) are lowered into a buffer on the stack and hashed at once.
        if parts.iter().all(|p| p.is_ascii()) && parts.iter().map(|p| p.len() + 1).sum::<usize>() <= 256 {
            let mut buf = [0u8; 256];
            let mut n = 0;
            for part in parts {
                for word in part.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()) {
                    if n > 0 {
                        buf[n] = b' ';
                        n += 1;
                    }
                    buf[n..n + word.len()].copy_from_slice(word.as_bytes());
                    buf[n..n + word.len()].make_ascii_lowercase();
                    n += word.len();
                }
            }
            if n == 0 {
                return None;
            }
            let mut h = self.hasher(Tag::Name);
            h.write(&buf[..n]);
            return Some(h.finish() & MARK_MASK);
        }
        let joined = parts.join(" ");
        norm_name(&joined).map(|n| self.mark(Tag::Name, &n))
    }
}

/// Marks keep 40 bits: a trillion values, so that a found file's marks meet a stored export's by
/// chance about once in a million comparisons, in five bytes each.
const MARK_MASK: u64 = (1 << 40) - 1;
const MARK_BYTES: usize = 5;

/// An email as marked: trimmed, lower case, `mailto:` dropped; `None` unless it has a local part
/// and a dotted domain.
pub fn norm_email(raw: &str) -> Option<String> {
    let t = raw.trim().trim_matches(['<', '>', '"', '\'']);
    let t = t.strip_prefix("mailto:").or_else(|| t.strip_prefix("MAILTO:")).unwrap_or(t);
    let e = t.trim().to_lowercase();
    let (local, domain) = e.split_once('@')?;
    if local.is_empty() || !domain.contains('.') || domain.ends_with('.') || e.chars().any(char::is_whitespace) {
        return None;
    }
    Some(e)
}

/// A phone as marked: its last nine digits (a country code, a trunk zero or a `+` dropped by a
/// spreadsheet does not change it); `None` with fewer than seven digits.
pub fn norm_phone(raw: &str) -> Option<String> {
    let digits: Vec<char> = raw.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 7 || digits.len() > 20 {
        return None;
    }
    Some(digits[digits.len().saturating_sub(9)..].iter().collect())
}

/// A name as marked: lower-case words of letters and digits, one space apart.
pub fn norm_name(raw: &str) -> Option<String> {
    let words: Vec<String> =
        raw.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// An id as marked: the hyphenated lower-case UUID.
pub fn norm_id(raw: &str) -> Option<String> {
    parse_id(raw).map(|u| u.hyphenated().to_string())
}

fn parse_id(raw: &str) -> Option<Uuid> {
    let t = raw.trim();
    let t = t.strip_prefix("urn:uuid:").unwrap_or(t);
    if t.len() != 36 && t.len() != 32 {
        return None;
    }
    Uuid::parse_str(t).ok()
}

fn norm_domain(raw: &str) -> Option<String> {
    crate::record::normalize_domain(raw).ok()
}

/// A column header as compared: letters and digits, lower case (`E-mail Address` → `emailaddress`).
pub fn header_key(h: &str) -> String {
    h.trim_start_matches('\u{feff}').chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// Which columns of a table hold which identifier, found by their header names (`Email`,
/// `E-mail Address`, `first_name`, `FirstName`, `Phone Number`, …).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub id: Option<usize>,
    pub email: Option<usize>,
    pub phone: Option<usize>,
    pub first: Option<usize>,
    pub last: Option<usize>,
    pub name: Option<usize>,
    pub domain: Option<usize>,
    /// Columns whose header names another record (`account_id`, `Owner ID`): their ids are not
    /// this row's.
    pub other_ids: Vec<usize>,
}

impl Identity {
    pub fn of_headers<S: AsRef<str>>(headers: &[S]) -> Identity {
        let mut id = Identity::default();
        for (i, h) in headers.iter().enumerate() {
            let k = header_key(h.as_ref());
            let slot = match k.as_str() {
                "id" | "uuid" | "uid" | "recordid" => &mut id.id,
                "email" | "emailaddress" | "mail" | "email1" | "workemail" | "businessemail" | "emailaddress1" => {
                    &mut id.email
                }
                "phone" | "phonenumber" | "telephone" | "tel" | "mobile" | "mobilephone" | "workphone"
                | "businessphone" | "telephonenumber" => &mut id.phone,
                "firstname" | "givenname" | "first" | "forename" => &mut id.first,
                "lastname" | "surname" | "familyname" | "last" => &mut id.last,
                "name" | "fullname" | "contactname" | "displayname" | "fn" | "companyname" | "accountname" => {
                    &mut id.name
                }
                "domain" | "website" | "webdomain" | "webdomaineg" => &mut id.domain,
                other => {
                    if other.ends_with("id") && other.len() > 2 {
                        id.other_ids.push(i);
                    }
                    continue;
                }
            };
            if slot.is_none() {
                *slot = Some(i);
            }
        }
        id
    }

    fn known(&self, i: usize) -> bool {
        [self.id, self.email, self.phone, self.first, self.last, self.name, self.domain].contains(&Some(i))
            || self.other_ids.contains(&i)
    }

    /// Whether any identifying column was found.
    pub fn any(&self) -> bool {
        self.id.is_some()
            || self.email.is_some()
            || self.phone.is_some()
            || self.first.is_some()
            || self.last.is_some()
            || self.name.is_some()
            || self.domain.is_some()
    }
}

/// The marks of one row, added to `out`. With `by_content`, cells in columns no header names
/// are marked too when they look like an email, an id or (without a phone column) a phone.
pub fn row_marks<S: AsRef<str>>(key: &MarkKey, ident: &Identity, cells: &[S], by_content: bool, out: &mut Vec<u64>) {
    each_mark(key, ident, cells, by_content, &mut |_, m| out.push(m));
}

/// The same, keeping the strong marks (id, email, phone, domain: one person's or company's) apart
/// from the name's (many people share a name).
pub fn row_marks_split<S: AsRef<str>>(
    key: &MarkKey,
    ident: &Identity,
    cells: &[S],
    by_content: bool,
    strong: &mut Vec<u64>,
    names: &mut Vec<u64>,
) {
    each_mark(key, ident, cells, by_content, &mut |is_strong, m| {
        if is_strong { strong.push(m) } else { names.push(m) }
    });
}

/// Calls `mark(strong, mark)` for each mark of a row.
fn each_mark<S: AsRef<str>>(
    key: &MarkKey,
    ident: &Identity,
    cells: &[S],
    by_content: bool,
    mark: &mut impl FnMut(bool, u64),
) {
    let cell = |i: Option<usize>| i.and_then(|i| cells.get(i)).map(|c| c.as_ref()).filter(|c| !c.trim().is_empty());
    if let Some(id) = cell(ident.id).and_then(parse_id) {
        mark(true, key.id_mark(&id));
    }
    if let Some(m) = cell(ident.email).and_then(|c| key.email_mark(c)) {
        mark(true, m);
    }
    if let Some(m) = cell(ident.phone).and_then(|c| key.phone_mark(c)) {
        mark(true, m);
    }
    if let Some(v) = cell(ident.domain).and_then(norm_domain) {
        mark(true, key.mark(Tag::Domain, &v));
    }
    let person = match (cell(ident.first), cell(ident.last)) {
        (None, None) => cell(ident.name).and_then(|n| key.name_mark(&[n])),
        (f, l) => key.name_mark(&[f.unwrap_or(""), l.unwrap_or("")]),
    };
    if let Some(m) = person {
        mark(false, m);
    }
    if by_content {
        for (i, c) in cells.iter().enumerate() {
            let c = c.as_ref();
            if ident.known(i) || c.trim().is_empty() {
                continue;
            }
            if c.contains('@') {
                if let Some(m) = key.email_mark(c) {
                    mark(true, m);
                }
            } else if let Some(id) = parse_id(c) {
                mark(true, key.id_mark(&id));
            } else if ident.phone.is_none()
                && looks_like_phone(c)
                && let Some(m) = key.phone_mark(c)
            {
                mark(true, m);
            }
        }
    }
}

/// Marks an export's rows on a thread of its own: the export's thread only copies each row's
/// identifying cells into a batch (the machine's other core does the hashing while the file is
/// written). Without a thread to spare, it marks in place.
pub struct RowMarker {
    columns: Vec<usize>,
    batch: Vec<u8>,
    send: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    worker: Option<std::thread::JoinHandle<PackedMarks>>,
    /// Marking in place: the key, the columns, the marks so far.
    inline: Option<(MarkKey, Identity, Vec<u64>)>,
}

/// Bytes of cells copied before a batch goes to the marking thread.
const MARK_BATCH: usize = 256 * 1024;

impl RowMarker {
    pub fn start(key: MarkKey, ident: Identity, width: usize) -> RowMarker {
        let mut columns: Vec<usize> =
            [ident.id, ident.email, ident.phone, ident.first, ident.last, ident.name, ident.domain]
                .into_iter()
                .flatten()
                .filter(|c| *c < width)
                .collect();
        columns.sort_unstable();
        columns.dedup();
        let (send, receive) = std::sync::mpsc::sync_channel::<Vec<u8>>(8);
        let (k, id, cols) = (key.clone(), ident.clone(), columns.clone());
        let worker = std::thread::Builder::new().name("export-marks".into()).spawn(move || {
            let mut marks = PackedMarks::default();
            let mut row = Vec::new();
            for batch in receive {
                let mut cells: Vec<&str> = vec![""; width];
                let mut at = 0usize;
                'rows: while at < batch.len() {
                    for c in &cols {
                        let Some(len) =
                            batch.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
                        else {
                            break 'rows;
                        };
                        at += 4;
                        cells[*c] = batch.get(at..at + len).and_then(|b| std::str::from_utf8(b).ok()).unwrap_or("");
                        at += len;
                    }
                    row_marks(&k, &id, &cells, false, &mut row);
                    marks.extend(row.drain(..));
                }
            }
            marks
        });
        match worker {
            Ok(w) => RowMarker {
                columns,
                batch: Vec::with_capacity(MARK_BATCH + 4096),
                send: Some(send),
                worker: Some(w),
                inline: None,
            },
            Err(_) => RowMarker {
                columns,
                batch: Vec::new(),
                send: None,
                worker: None,
                inline: Some((key, ident, Vec::new())),
            },
        }
    }

    /// One row's cells, in the export's column order.
    pub fn row<S: AsRef<str>>(&mut self, cells: &[S]) {
        if let Some((key, ident, marks)) = self.inline.as_mut() {
            row_marks(key, ident, cells, false, marks);
            return;
        }
        for c in &self.columns {
            let text = cells.get(*c).map(|t| t.as_ref()).unwrap_or("");
            self.batch.extend_from_slice(&u32::try_from(text.len()).unwrap_or(0).to_le_bytes());
            self.batch.extend_from_slice(text.as_bytes());
        }
        if self.batch.len() >= MARK_BATCH {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let full = std::mem::replace(&mut self.batch, Vec::with_capacity(MARK_BATCH + 4096));
        if let Some(send) = &self.send
            && send.send(full).is_err()
        {
            // The marking thread is gone; finish() reports it.
            self.send = None;
        }
    }

    /// Every row's marks.
    pub fn finish(mut self) -> Result<PackedMarks, String> {
        if let Some((_, _, marks)) = self.inline.take() {
            return Ok(PackedMarks::of(&marks));
        }
        self.flush();
        self.send = None;
        match self.worker.take() {
            Some(w) => w.join().map_err(|_| "marking the export's rows failed".to_string()),
            None => Err("marking the export's rows failed".into()),
        }
    }
}

/// Digits with the punctuation phones are written with, and not a date or a sum of money.
fn looks_like_phone(c: &str) -> bool {
    let t = c.trim();
    let digits = t.chars().filter(char::is_ascii_digit).count();
    (7..=15).contains(&digits)
        && t.chars().all(|ch| ch.is_ascii_digit() || " +-().".contains(ch))
        && !(t.len() == 10 && t.as_bytes().get(4) == Some(&b'-') && t.as_bytes().get(7) == Some(&b'-'))
        && !t.contains(".0")
}

/// Marks as compact text: base64 of five little-endian bytes each, in the order they came (a
/// trace looks each one up; nothing needs them sorted).
pub fn pack_marks(marks: &[u64]) -> String {
    PackedMarks::of(marks).parts_as_text().collect()
}

/// Marks packed five bytes each, in parts of a fixed size, as an export gathers them: a million
/// rows' marks take 25 MB here, and go to the database one part at a time (never as one text).
/// Every part but the last is a whole number of marks and of base64's three-byte groups, so the
/// parts' texts written one after another are the text of all the marks ([`pack_marks`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PackedMarks {
    parts: Vec<Vec<u8>>,
}

/// Bytes in one part of [`PackedMarks`]: 49,152 marks (about ten thousand rows).
pub const MARK_PART_BYTES: usize = 3 * MARK_BYTES * 16_384;

impl PackedMarks {
    pub fn of(marks: &[u64]) -> PackedMarks {
        let mut p = PackedMarks::default();
        p.extend(marks.iter().copied());
        p
    }

    pub fn push(&mut self, mark: u64) {
        match self.parts.last_mut() {
            Some(part) if part.len() < MARK_PART_BYTES => part.extend_from_slice(&mark.to_le_bytes()[..MARK_BYTES]),
            _ => {
                // A part grows as marks come (a ten-row export does not hold a whole part's room).
                let mut part = Vec::with_capacity(if self.parts.is_empty() { 4 * 1024 } else { MARK_PART_BYTES });
                part.extend_from_slice(&mark.to_le_bytes()[..MARK_BYTES]);
                self.parts.push(part);
            }
        }
    }

    pub fn extend(&mut self, marks: impl IntoIterator<Item = u64>) {
        for m in marks {
            self.push(m);
        }
    }

    pub fn len(&self) -> usize {
        self.parts.iter().map(Vec::len).sum::<usize>() / MARK_BYTES
    }

    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// Each part as base64 text, made as it is asked for.
    pub fn parts_as_text(&self) -> impl Iterator<Item = String> + '_ {
        use base64::Engine;
        self.parts.iter().map(|p| base64::engine::general_purpose::STANDARD_NO_PAD.encode(p))
    }
}

/// The marks [`pack_marks`] wrote.
pub fn unpack_marks(text: &str) -> Result<Vec<u64>, String> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|e| format!("a stored fingerprint is not base64: {e}"))?;
    if bytes.len() % MARK_BYTES != 0 {
        return Err("a stored fingerprint has a torn mark".into());
    }
    Ok(bytes
        .chunks_exact(MARK_BYTES)
        .map(|c| {
            let mut a = [0u8; 8];
            a[..MARK_BYTES].copy_from_slice(c);
            u64::from_le_bytes(a)
        })
        .collect())
}

/// A made-up person placed in an export, dressed as the real row before it: a first name of its
/// own, the neighbour's surname (so a list sorted by name stays sorted), an address on the
/// company's canary domain, a number in its canary range, an id and dates from shortly before
/// the neighbour's (so ids and dates agree as real ones do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanaryPerson {
    pub record_id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    /// As written in the file (the admin's prefix and random digits).
    pub phone: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What a canary copies from the real row it follows.
#[derive(Debug, Clone, Default)]
pub struct Neighbour<'a> {
    pub first_name: Option<&'a str>,
    pub last_name: Option<&'a str>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
}

impl CanaryPerson {
    /// A new one beside `neighbour`, at `now` when the neighbour has no dates.
    pub fn beside(domain: &str, phone_prefix: Option<&str>, neighbour: &Neighbour<'_>, now: i64) -> CanaryPerson {
        let mut rng = rand::rng();
        let first = loop {
            let f = crate::demo::FIRST[rng.random_range(0..crate::demo::FIRST.len())];
            if Some(f) != neighbour.first_name || crate::demo::FIRST.len() < 2 {
                break f.to_string();
            }
        };
        let last = neighbour
            .last_name
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('\''))
            .map(String::from)
            .unwrap_or_else(|| crate::demo::LAST[rng.random_range(0..crate::demo::LAST.len())].to_string());
        let local = |s: &str| s.chars().filter_map(ascii_letter).collect::<String>();
        let mut address = format!("{}.{}", local(&first), local(&last));
        if address.len() < 3 || rng.random_range(0..2) == 0 {
            address.push_str(&rng.random_range(2..100u32).to_string());
        }
        let phone = phone_prefix.map(str::trim).filter(|p| !p.is_empty()).map(|p| {
            let have = p.chars().filter(char::is_ascii_digit).count();
            let want = (have + 4).clamp(11, 15).max(have + 1);
            let mut out = p.to_string();
            for _ in have..want {
                out.push(char::from(b'0' + rng.random_range(0..10u8)));
            }
            out
        });
        // Made a little before the neighbour (up to three days), as a colleague's record would be.
        let base = neighbour.created_at.unwrap_or(now);
        let created_at = (base - rng.random_range(60_000_000..3 * 86_400_000_000i64)).max(0);
        let updated_at = neighbour.updated_at.unwrap_or(created_at).max(created_at);
        let secs = u64::try_from(created_at / 1_000_000).unwrap_or(0);
        let nanos = u32::try_from((created_at % 1_000_000) * 1_000).unwrap_or(0);
        let record_id = Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, secs, nanos));
        CanaryPerson {
            record_id,
            first_name: first,
            last_name: last,
            email: format!("{address}@{}", domain.trim().to_lowercase()),
            phone,
            created_at,
            updated_at,
        }
    }

    /// The value the canary shows in a column (`None`: the neighbouring real row's value).
    pub fn cell(&self, column: &str) -> Option<String> {
        Some(match column {
            "id" => self.record_id.to_string(),
            "first_name" => self.first_name.clone(),
            "last_name" => self.last_name.clone(),
            "email" => self.email.clone(),
            "phone" => self.phone.clone().unwrap_or_default(),
            "created_at" => crate::time::format_timestamp(self.created_at),
            "updated_at" => crate::time::format_timestamp(self.updated_at),
            // Links and notes that belong to one real person.
            "contact_id" | "duplicate_of" | "reports_to_id" | "notes" => String::new(),
            _ => return None,
        })
    }

    /// The canary's strong marks (id, email, phone), as its row in the file leaves them.
    pub fn strong_marks(&self, key: &MarkKey) -> Vec<u64> {
        let mut out = vec![key.id_mark(&self.record_id)];
        if let Some(e) = norm_email(&self.email) {
            out.push(key.mark(Tag::Email, &e));
        }
        if let Some(p) = self.phone.as_deref().and_then(norm_phone) {
            out.push(key.mark(Tag::Phone, &p));
        }
        out
    }

    /// All its marks, its name's too.
    pub fn marks(&self, key: &MarkKey) -> Vec<u64> {
        let mut out = self.strong_marks(key);
        if let Some(n) = norm_name(&format!("{} {}", self.first_name, self.last_name)) {
            out.push(key.mark(Tag::Name, &n));
        }
        out
    }
}

/// A letter as it would be typed in an email address (accents dropped), or none.
fn ascii_letter(c: char) -> Option<char> {
    let c = c.to_lowercase().next().unwrap_or(c);
    if c.is_ascii_alphanumeric() {
        return Some(c);
    }
    let folded = match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' => 'a',
        'ç' | 'ć' | 'č' => 'c',
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ę' => 'e',
        'ì' | 'í' | 'î' | 'ï' | 'ī' => 'i',
        'ñ' | 'ń' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' => 'o',
        'ù' | 'ú' | 'û' | 'ü' | 'ū' => 'u',
        'ý' | 'ÿ' => 'y',
        'ś' | 'š' | 'ß' => 's',
        'ž' | 'ź' | 'ż' => 'z',
        'ł' => 'l',
        _ => return None,
    };
    Some(folded)
}

/// How many canaries an export of `rows` rows carries: none in a file under ten rows (its maker
/// would know every row), one under 50, two under 200, then three and one more per 500 rows, at
/// most ten.
pub fn canaries_for(rows: i64) -> usize {
    match rows {
        ..10 => 0,
        10..50 => 1,
        50..200 => 2,
        n => usize::try_from(3 + n / 500).unwrap_or(10).min(10),
    }
}

/// The distinct rows after which canaries go (1-based positions among `rows` real rows), spread at
/// random.
pub fn canary_positions(rows: i64, count: usize) -> Vec<i64> {
    let mut rng = rand::rng();
    let mut out: Vec<i64> = Vec::with_capacity(count);
    let count = count.min(usize::try_from(rows.max(0)).unwrap_or(0));
    while out.len() < count {
        let p = rng.random_range(1..=rows.max(1));
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out.sort_unstable();
    out
}

/// A file found in the wild, read back into rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundTable {
    /// `csv`, `xlsx` or `vcard`.
    pub format: &'static str,
    /// The header row (empty when the file has none).
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// The separator of a text table.
    pub separator: Option<char>,
}

/// Reads a CSV (any of `,` `;` tab `|`, with or without a byte-order mark, UTF-8, UTF-16 or
/// Windows-1252), XLSX or vCard file. A first row that holds an email or an id is data, not
/// headers.
pub fn read_found(bytes: &[u8], most_rows: usize) -> Result<FoundTable, String> {
    if bytes.starts_with(b"PK\x03\x04") {
        return read_xlsx(bytes, most_rows);
    }
    let text = decode_text(bytes);
    let head: String = text.chars().take(4_096).collect::<String>().to_ascii_uppercase();
    if head.trim_start().starts_with("BEGIN:VCARD") {
        return Ok(read_vcard(&text, most_rows));
    }
    read_csv(&text, most_rows)
}

fn decode_text(bytes: &[u8]) -> String {
    if let Some((enc, bom)) = encoding_rs::Encoding::for_bom(bytes) {
        let (text, _) = enc.decode_without_bom_handling(&bytes[bom..]);
        return text.into_owned();
    }
    match std::str::from_utf8(bytes) {
        Ok(t) => t.to_string(),
        Err(_) => encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes).0.into_owned(),
    }
}

fn sniff_separator(text: &str) -> u8 {
    let sample: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).take(5).collect();
    let mut best = (b',', 0usize);
    for sep in [b',', b';', b'\t', b'|'] {
        let counts: Vec<usize> = sample
            .iter()
            .map(|l| {
                let mut quoted = false;
                l.bytes()
                    .filter(|b| {
                        if *b == b'"' {
                            quoted = !quoted;
                        }
                        !quoted && *b == sep
                    })
                    .count()
            })
            .collect();
        let least = counts.iter().copied().min().unwrap_or(0);
        if least > best.1 {
            best = (sep, least);
        }
    }
    best.0
}

fn looks_like_data(row: &[String]) -> bool {
    row.iter().any(|c| norm_email(c).is_some() && c.contains('@') || norm_id(c).is_some())
}

fn split_header(mut rows: Vec<Vec<String>>) -> (Vec<String>, Vec<Vec<String>>) {
    match rows.first() {
        Some(first) if !looks_like_data(first) => {
            let headers = rows.remove(0);
            (headers, rows)
        }
        _ => (Vec::new(), rows),
    }
}

fn read_csv(text: &str, most_rows: usize) -> Result<FoundTable, String> {
    let sep = sniff_separator(text);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(sep)
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for rec in reader.records() {
        let rec = rec.map_err(|e| format!("the file is not a table Holdfast can read: {e}"))?;
        if rec.iter().all(|c| c.is_empty()) {
            continue;
        }
        rows.push(rec.iter().map(String::from).collect());
        if rows.len() > most_rows {
            return Err(format!("the file has more than {most_rows} rows"));
        }
    }
    let (headers, rows) = split_header(rows);
    Ok(FoundTable { format: "csv", headers, rows, separator: Some(char::from(sep)) })
}

/// The most columns read from a found spreadsheet, and the most bytes its parts may unpack to.
const XLSX_COLUMNS: u32 = 256;
const XLSX_UNPACKED: u64 = 512 * 1024 * 1024;

/// The sum of a zip archive's declared unpacked sizes (from its central directory), or why it
/// cannot be trusted: a spreadsheet that unpacks to more than [`XLSX_UNPACKED`] is refused before
/// anything is unpacked.
fn zip_unpacked_size(bytes: &[u8]) -> Result<u64, String> {
    let le16 = |i: usize| bytes.get(i..i + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as u64);
    let le32 = |i: usize| bytes.get(i..i + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64);
    let bad = || "the spreadsheet's zip directory is damaged".to_string();
    let from = bytes.len().saturating_sub(22 + 65_535);
    let end = (from..=bytes.len().saturating_sub(22))
        .rev()
        .find(|i| bytes.get(*i..*i + 4) == Some(b"PK\x05\x06"))
        .ok_or_else(bad)?;
    let entries = le16(end + 10).ok_or_else(bad)?;
    let mut at = usize::try_from(le32(end + 16).ok_or_else(bad)?).map_err(|_| bad())?;
    let mut total = 0u64;
    for _ in 0..entries {
        if bytes.get(at..at + 4) != Some(b"PK\x01\x02") {
            return Err(bad());
        }
        let size = le32(at + 24).ok_or_else(bad)?;
        if size == 0xFFFF_FFFF {
            return Err("the spreadsheet is too large to read (zip64)".into());
        }
        total += size;
        let skip =
            46 + le16(at + 28).ok_or_else(bad)? + le16(at + 30).ok_or_else(bad)? + le16(at + 32).ok_or_else(bad)?;
        at += usize::try_from(skip).map_err(|_| bad())?;
    }
    Ok(total)
}

fn read_xlsx(bytes: &[u8], most_rows: usize) -> Result<FoundTable, String> {
    use calamine::Reader;
    if zip_unpacked_size(bytes)? > XLSX_UNPACKED {
        return Err(format!("the spreadsheet unpacks to more than {} MB", XLSX_UNPACKED / 1_000_000));
    }
    let mut book: calamine::Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes))
        .map_err(|e| format!("the file looks like a spreadsheet but cannot be read: {e}"))?;
    let sheet = book.sheet_names().into_iter().next().ok_or("the spreadsheet has no sheet")?;
    let mut cells = book
        .worksheet_cells_reader(&sheet)
        .map_err(|e| format!("the spreadsheet's first sheet cannot be read: {e}"))?;
    // Cells come row by row; only the used ones, so a sheet with one cell far away costs nothing.
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut current: Option<(u32, Vec<String>)> = None;
    let push = |row: Vec<String>, rows: &mut Vec<Vec<String>>| {
        if row.iter().any(|c| !c.trim().is_empty()) {
            rows.push(row);
        }
    };
    loop {
        let cell = match cells.next_cell() {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => return Err(format!("the spreadsheet's first sheet cannot be read: {e}")),
        };
        let (r, c) = cell.get_position();
        if c >= XLSX_COLUMNS {
            continue;
        }
        let text = match calamine::Data::from(cell.get_value().clone()) {
            calamine::Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
            other => other.to_string(),
        };
        if current.as_ref().is_none_or(|(row, _)| *row != r) {
            if let Some((_, done)) = current.take() {
                push(done, &mut rows);
                if rows.len() > most_rows {
                    return Err(format!("the spreadsheet has more than {most_rows} rows"));
                }
            }
            current = Some((r, Vec::new()));
        }
        if let Some((_, row)) = current.as_mut() {
            let c = c as usize;
            if row.len() <= c {
                row.resize(c + 1, String::new());
            }
            row[c] = text;
        }
    }
    if let Some((_, done)) = current.take() {
        push(done, &mut rows);
    }
    if rows.len() > most_rows {
        return Err(format!("the spreadsheet has more than {most_rows} rows"));
    }
    let (headers, rows) = split_header(rows);
    Ok(FoundTable { format: "xlsx", headers, rows, separator: None })
}

fn vcard_unescape(s: &str) -> String {
    s.replace("\\n", " ").replace("\\N", " ").replace("\\,", ",").replace("\\;", ";").replace("\\\\", "\\")
}

fn read_vcard(text: &str, most_rows: usize) -> FoundTable {
    // Unfold continuation lines (RFC 6350 3.2).
    let mut lines: Vec<String> = Vec::new();
    for raw in text.split('\n') {
        let l = raw.trim_end_matches('\r');
        if (l.starts_with(' ') || l.starts_with('\t')) && !lines.is_empty() {
            if let Some(last) = lines.last_mut() {
                last.push_str(&l[1..]);
            }
        } else {
            lines.push(l.to_string());
        }
    }
    let headers: Vec<String> =
        ["id", "first_name", "last_name", "name", "email", "phone"].iter().map(|s| s.to_string()).collect();
    let mut rows = Vec::new();
    let mut card: Option<Vec<String>> = None;
    for l in lines {
        let Some((prop, value)) = l.split_once(':') else { continue };
        let name = prop.split(';').next().unwrap_or("").rsplit('.').next().unwrap_or("").to_ascii_uppercase();
        match name.as_str() {
            "BEGIN" if value.eq_ignore_ascii_case("VCARD") => card = Some(vec![String::new(); 6]),
            "END" if value.eq_ignore_ascii_case("VCARD") => {
                if let Some(c) = card.take() {
                    rows.push(c);
                    if rows.len() >= most_rows {
                        break;
                    }
                }
            }
            _ => {
                let Some(c) = card.as_mut() else { continue };
                let put = |c: &mut Vec<String>, i: usize, v: String| {
                    if c[i].is_empty() {
                        c[i] = v;
                    }
                };
                match name.as_str() {
                    "UID" => put(c, 0, value.trim().to_string()),
                    "N" => {
                        let mut parts = value.split(';');
                        let last = vcard_unescape(parts.next().unwrap_or(""));
                        let first = vcard_unescape(parts.next().unwrap_or(""));
                        put(c, 1, first);
                        put(c, 2, last);
                    }
                    "FN" => put(c, 3, vcard_unescape(value)),
                    "EMAIL" => put(c, 4, vcard_unescape(value)),
                    "TEL" => put(c, 5, vcard_unescape(value.trim_start_matches("tel:"))),
                    _ => {}
                }
            }
        }
    }
    FoundTable { format: "vcard", headers, rows, separator: None }
}

/// Email addresses written anywhere in a text (a message body), normalised.
pub fn emails_in(text: &str, out: &mut Vec<String>) {
    let bytes = text.as_bytes();
    let local = |b: u8| b.is_ascii_alphanumeric() || b"._%+-'".contains(&b);
    let host = |b: u8| b.is_ascii_alphanumeric() || b".-".contains(&b);
    let mut i = 0;
    while let Some(at) = bytes[i..].iter().position(|b| *b == b'@').map(|p| p + i) {
        let mut s = at;
        while s > 0 && local(bytes[s - 1]) {
            s -= 1;
        }
        let mut e = at + 1;
        while e < bytes.len() && host(bytes[e]) {
            e += 1;
        }
        if s < at
            && e > at + 1
            && let Some(found) = text.get(s..e).and_then(|t| norm_email(t.trim_end_matches(['.', '-'])))
        {
            out.push(found);
        }
        i = e.max(at + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MarkKey {
        MarkKey::from_secret("test")
    }

    #[test]
    fn the_same_person_marks_the_same_whatever_the_file_does_to_them() {
        let k = key();
        let a = Identity::of_headers(&["id", "first_name", "last_name", "email", "phone"]);
        let b = Identity::of_headers(&["E-mail Address", "Phone Number", "Surname", "First Name"]);
        let mut ma = Vec::new();
        row_marks(&k, &a, &["", "Ana", "Silva", "Ana.Silva@Acme.com", "+44 20 7946 0123"], false, &mut ma);
        let mut mb = Vec::new();
        row_marks(&k, &b, &[" ana.silva@acme.com ", "020 7946 0123", "SILVA", "ana"], false, &mut mb);
        assert_eq!(ma.len(), 3);
        assert_eq!(ma, mb);
        assert_ne!(MarkKey::from_secret("other").mark(Tag::Email, "a@b.co"), k.mark(Tag::Email, "a@b.co"));
    }

    #[test]
    fn files_are_read_in_the_shapes_spreadsheets_save_them() {
        let semi = "\u{feff}Email;Phone;Name\r\nana@acme.com;+44 20 7946 0123;\"Silva; Ana\"\r\n";
        let t = read_found(semi.as_bytes(), 10).unwrap();
        assert_eq!((t.format, t.separator, t.headers.len(), t.rows.len()), ("csv", Some(';'), 3, 1));
        assert_eq!(t.headers[0], "Email");
        let headerless = "ana@acme.com,Ana\nbo@acme.com,Bo\n";
        let t = read_found(headerless.as_bytes(), 10).unwrap();
        assert!(t.headers.is_empty());
        assert_eq!(t.rows.len(), 2);
        let latin1 = b"name,email\nJos\xe9,jose@acme.com\n";
        let t = read_found(latin1, 10).unwrap();
        assert_eq!(t.rows[0][0], "José");
        let mut utf16 = vec![0xFF, 0xFE];
        for u in "email\tname\nana@acme.com\tAna\n".encode_utf16() {
            utf16.extend_from_slice(&u.to_le_bytes());
        }
        let t = read_found(&utf16, 10).unwrap();
        assert_eq!((t.separator, t.rows[0][0].as_str()), (Some('\t'), "ana@acme.com"));
        let card = "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:urn:uuid:0190c1d6-7a8e-7c3b-9a1e-3f2b1c0d4e5f\r\nFN:Ana Silva\r\nN:Silva;Ana;;;\r\nEMAIL:ana@acme.co\r\n m\r\nTEL:+1 555 0100\r\nEND:VCARD\r\n";
        let t = read_found(card.as_bytes(), 10).unwrap();
        assert_eq!(t.format, "vcard");
        assert_eq!(t.rows[0][4], "ana@acme.com");
        assert_eq!(t.rows[0][1], "Ana");
        assert!(read_found(b"PK\x03\x04garbage", 10).is_err());
    }

    #[test]
    fn content_marks_find_emails_and_ids_in_unnamed_columns_but_not_linked_ids() {
        let k = key();
        let id = Identity::of_headers(&["x", "account_id", "y"]);
        let mut m = Vec::new();
        let acct = "0190c1d6-7a8e-7c3b-9a1e-3f2b1c0d4e5f";
        row_marks(&k, &id, &["ana@acme.com", acct, "2026-11-30"], true, &mut m);
        assert_eq!(m, vec![k.mark(Tag::Email, "ana@acme.com")]);
    }

    #[test]
    fn rows_marked_on_their_own_thread_are_marked_as_in_place() {
        let k = key();
        let ident = Identity::of_headers(&["id", "first_name", "last_name", "email", "phone", "title"]);
        let rows: Vec<Vec<String>> = (0..20_000)
            .map(|i| {
                vec![
                    Uuid::now_v7().to_string(),
                    format!("Ana{i}"),
                    "Silva".into(),
                    format!("a{i}@x.example"),
                    format!("+1 555 {i:07}"),
                    "CEO".into(),
                ]
            })
            .collect();
        let mut marker = RowMarker::start(k.clone(), ident.clone(), 6);
        let mut inline = Vec::new();
        for r in &rows {
            marker.row(r);
            row_marks(&k, &ident, r, false, &mut inline);
        }
        assert_eq!(marker.finish().unwrap(), PackedMarks::of(&inline));
    }

    #[test]
    fn marks_pack_and_unpack() {
        let m = vec![5, 1, MARK_MASK, 5];
        let packed = pack_marks(&m);
        assert_eq!(unpack_marks(&packed).unwrap(), vec![5, 1, MARK_MASK, 5]);
        assert!(unpack_marks("AAAA").is_err());
    }

    #[test]
    fn marks_in_parts_read_back_as_one_text() {
        let per_part = MARK_PART_BYTES / MARK_BYTES;
        for n in [0, 1, 2, per_part - 1, per_part, per_part + 1, 2 * per_part + 7] {
            let marks: Vec<u64> = (0..n as u64).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) & MARK_MASK).collect();
            let packed = PackedMarks::of(&marks);
            assert_eq!(packed.len(), n);
            assert_eq!(packed.parts_as_text().count(), n.div_ceil(per_part));
            let text: String = packed.parts_as_text().collect();
            assert_eq!(unpack_marks(&text).unwrap(), marks, "{n} marks");
        }
    }

    #[test]
    fn marks_taken_on_the_way_equal_marks_of_the_normalised_text() {
        let k = key();
        for e in [" Ana.Silva@Acme.COM ", "mailto:bo@x.co", "<zoë@ex.example>"] {
            assert_eq!(k.email_mark(e), norm_email(e).map(|n| k.mark(Tag::Email, &n)), "{e}");
        }
        for p in ["+44 20 7946 0123", "020-7946-0123", "12345"] {
            assert_eq!(k.phone_mark(p), norm_phone(p).map(|n| k.mark(Tag::Phone, &n)), "{p}");
        }
        for (f, l) in [("Ana", "Silva-Costa"), ("ÉLODIE", "Müller"), ("", "  ")] {
            let joined = format!("{f} {l}");
            assert_eq!(k.name_mark(&[f, l]), norm_name(&joined).map(|n| k.mark(Tag::Name, &n)), "{joined}");
        }
        assert!(k.email_mark("no-at-sign").is_none() && k.mark(Tag::Email, "x") <= MARK_MASK);
    }

    #[test]
    fn canaries_are_on_the_canary_domain_and_range_and_dressed_as_their_neighbour() {
        let now = 1_796_032_800_000_000;
        let n = Neighbour {
            first_name: Some("Ana"),
            last_name: Some("Müller"),
            created_at: Some(now - 1_000),
            updated_at: Some(now),
        };
        let c = CanaryPerson::beside("Leaks.Example.com", Some("+1 555 01"), &n, now);
        assert!(c.email.is_ascii() && c.email.contains(".muller"), "{}", c.email);
        assert_eq!(ascii_letter('Ü'), Some('u'));
        assert!(c.email.ends_with("@leaks.example.com"), "{}", c.email);
        assert_eq!(c.last_name, "Müller");
        assert_ne!(c.first_name, "Ana");
        let phone = c.phone.clone().unwrap();
        assert!(phone.starts_with("+1 555 01"));
        assert_eq!(phone.chars().filter(char::is_ascii_digit).count(), 11, "{phone}");
        let long = CanaryPerson::beside("x.example", Some("+44 20 7946 0123"), &n, now);
        assert_eq!(long.phone.unwrap().chars().filter(char::is_ascii_digit).count(), 15, "room for four more digits");
        assert!(c.created_at < now && c.updated_at == now);
        let (secs, _) = c.record_id.get_timestamp().expect("v7").to_unix();
        assert_eq!(secs as i64, c.created_at / 1_000_000, "the id's time is its created_at");
        assert_eq!(c.marks(&key()).len(), 4);
        assert_eq!(canaries_for(5), 0);
        assert_eq!(canaries_for(200), 3);
        assert_eq!(canaries_for(1_000_000), 10);
        let p = canary_positions(200, 3);
        assert!(p.iter().all(|x| (1..=200).contains(x)));
        let mut all = canary_positions(3, 3);
        all.dedup();
        assert_eq!(all, vec![1, 2, 3], "distinct places");
    }

    #[test]
    fn a_spreadsheet_that_unpacks_too_far_is_refused_before_unpacking() {
        // An end-of-directory record pointing at one entry that claims 4 GB.
        let mut zip = b"PK\x03\x04".to_vec();
        let dir = zip.len();
        zip.extend(b"PK\x01\x02");
        zip.extend([0u8; 20]);
        zip.extend(0xFFFF_FFF0u32.to_le_bytes());
        zip.extend([0u8; 18]);
        zip.extend(b"PK\x05\x06");
        zip.extend([0u8; 6]);
        zip.extend(1u16.to_le_bytes());
        zip.extend([0u8; 4]);
        zip.extend((dir as u32).to_le_bytes());
        zip.extend([0u8; 2]);
        let err = read_found(&zip, 10).expect_err("refused");
        assert!(err.contains("unpacks to more than"), "{err}");
    }

    #[test]
    fn emails_are_found_in_running_text() {
        let mut out = Vec::new();
        emails_in("Call <Ana.Silva@Acme.com>, or bo@acme.co.uk. Not @ this or a@b", &mut out);
        assert_eq!(out, vec!["ana.silva@acme.com", "bo@acme.co.uk"]);
    }
}
