//! SCIM filters (RFC 7644 §3.4.2.2): `userName eq "ada@example.com"`,
//! `emails[type eq "work" and value co "@example.com"]`, `not (active eq false) or title pr`…
//! parsed into a tree and evaluated against a resource's JSON.

use serde_json::Value as Json;

use super::{ENTERPRISE_USER, ScimError};

/// The deepest nesting of parentheses and brackets a filter may have.
const MAX_DEPTH: usize = 32;
/// The longest filter accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 4096;

/// An attribute path: `userName`, `name.givenName`, `urn:…:enterprise:2.0:User:department`.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrPath {
    /// The schema URN the path was written with, if any.
    pub schema: Option<String>,
    pub name: String,
    pub sub: Option<String>,
}

impl AttrPath {
    /// Parses `[urn:…:]attr[.sub]`.
    pub fn parse(text: &str) -> Result<AttrPath, String> {
        let text = text.trim();
        let (schema, rest) = if text.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) {
            match text.rfind(':') {
                Some(i) => (Some(text[..i].to_string()), &text[i + 1..]),
                None => return Err(format!("'{text}' is not an attribute path")),
            }
        } else {
            (None, text)
        };
        let (name, sub) = match rest.split_once('.') {
            Some((n, s)) => (n, Some(s)),
            None => (rest, None),
        };
        let valid = |s: &str| {
            s.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '$')
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$')
        };
        if !valid(name) || sub.is_some_and(|s| !valid(s)) {
            return Err(format!("'{text}' is not an attribute path"));
        }
        Ok(AttrPath { schema, name: name.to_string(), sub: sub.map(String::from) })
    }

    /// Whether the path names an attribute of the enterprise extension.
    pub fn in_enterprise(&self) -> bool {
        self.schema.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(ENTERPRISE_USER))
    }
}

impl std::fmt::Display for AttrPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(s) = &self.schema {
            write!(f, "{s}:")?;
        }
        write!(f, "{}", self.name)?;
        if let Some(s) = &self.sub {
            write!(f, ".{s}")?;
        }
        Ok(())
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Op {
    fn parse(word: &str) -> Option<Op> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "co" => Op::Co,
            "sw" => Op::Sw,
            "ew" => Op::Ew,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "le" => Op::Le,
            _ => return None,
        })
    }
    fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Co => "co",
            Op::Sw => "sw",
            Op::Ew => "ew",
            Op::Gt => "gt",
            Op::Ge => "ge",
            Op::Lt => "lt",
            Op::Le => "le",
        }
    }
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare(AttrPath, Op, Json),
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `emails[type eq "work"]`: some element of a multi-valued attribute matches.
    ValuePath(AttrPath, Box<Filter>),
}

impl std::fmt::Display for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Filter::Compare(p, op, v) => write!(f, "{p} {} {v}", op.as_str()),
            Filter::Present(p) => write!(f, "{p} pr"),
            Filter::And(a, b) => write!(f, "({a} and {b})"),
            Filter::Or(a, b) => write!(f, "({a} or {b})"),
            Filter::Not(a) => write!(f, "not ({a})"),
            Filter::ValuePath(p, inner) => write!(f, "{p}[{inner}]"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    Word(String),
    Str(String),
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'(' => {
                out.push(Token::Open);
                i += 1
            }
            b')' => {
                out.push(Token::Close);
                i += 1
            }
            b'[' => {
                out.push(Token::OpenBracket);
                i += 1
            }
            b']' => {
                out.push(Token::CloseBracket);
                i += 1
            }
            b'"' => {
                // A JSON string: find its closing quote, skipping escaped characters.
                let start = i;
                i += 1;
                loop {
                    match bytes.get(i) {
                        None => return Err("a quoted value is not closed".into()),
                        Some(b'\\') => i += 2,
                        Some(b'"') => break,
                        Some(_) => i += 1,
                    }
                }
                let s: String = serde_json::from_str(&text[start..=i])
                    .map_err(|_| format!("{} is not a valid quoted value", &text[start..=i]))?;
                out.push(Token::Str(s));
                i += 1;
            }
            _ => {
                let start = i;
                while i < bytes.len()
                    && !matches!(bytes[i], b' ' | b'\t' | b'\r' | b'\n' | b'(' | b')' | b'[' | b']' | b'"')
                {
                    i += 1;
                }
                out.push(Token::Word(text[start..i].to_string()));
            }
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }
    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }
    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }
    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, String>) -> Result<T, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("the filter nests deeper than {MAX_DEPTH} levels"));
        }
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn or(&mut self) -> Result<Filter, String> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.at += 1;
            let right = self.and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, String> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.at += 1;
            let right = self.unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, String> {
        if self.keyword("not") {
            self.at += 1;
            if self.next() != Some(Token::Open) {
                return Err("'not' must be followed by a filter in parentheses".into());
            }
            let inner = self.nested(Self::or)?;
            if self.next() != Some(Token::Close) {
                return Err("a parenthesis is not closed".into());
            }
            return Ok(Filter::Not(Box::new(inner)));
        }
        match self.next() {
            Some(Token::Open) => {
                let inner = self.nested(Self::or)?;
                if self.next() != Some(Token::Close) {
                    return Err("a parenthesis is not closed".into());
                }
                Ok(inner)
            }
            Some(Token::Word(w)) => self.attribute_expression(&w),
            Some(Token::Str(s)) => Err(format!("expected an attribute name, found the value \"{s}\"")),
            Some(_) => Err("expected an attribute name".into()),
            None => Err("the filter ends too early".into()),
        }
    }

    fn attribute_expression(&mut self, word: &str) -> Result<Filter, String> {
        let path = AttrPath::parse(word)?;
        if self.peek() == Some(&Token::OpenBracket) {
            self.at += 1;
            let inner = self.nested(Self::or)?;
            if self.next() != Some(Token::CloseBracket) {
                return Err("a bracket is not closed".into());
            }
            return Ok(Filter::ValuePath(path, Box::new(inner)));
        }
        let op = match self.next() {
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("pr") => return Ok(Filter::Present(path)),
            Some(Token::Word(w)) => Op::parse(&w)
                .ok_or_else(|| format!("'{w}' is not an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)"))?,
            _ => return Err(format!("expected an operator after '{word}'")),
        };
        let value = match self.next() {
            Some(Token::Str(s)) => Json::String(s),
            Some(Token::Word(w)) => match w.to_ascii_lowercase().as_str() {
                "true" => Json::Bool(true),
                "false" => Json::Bool(false),
                "null" => Json::Null,
                _ => serde_json::from_str::<serde_json::Number>(&w)
                    .map(Json::Number)
                    .map_err(|_| format!("'{w}' is not a value; quote strings: \"{w}\""))?,
            },
            _ => return Err(format!("expected a value after '{word} {}'", op.as_str())),
        };
        Ok(Filter::Compare(path, op, value))
    }
}

impl Filter {
    /// Parses a filter, or says what is wrong with it (a SCIM `invalidFilter` error).
    pub fn parse(text: &str) -> Result<Filter, ScimError> {
        if text.len() > MAX_FILTER_LEN {
            return Err(ScimError::invalid_filter(format!("the filter is longer than {MAX_FILTER_LEN} bytes")));
        }
        let parse = || {
            let mut p = Parser { tokens: tokens(text)?, at: 0, depth: 0 };
            if p.tokens.is_empty() {
                return Err("the filter is empty".to_string());
            }
            let f = p.or()?;
            match p.peek() {
                None => Ok(f),
                Some(t) => Err(format!("unexpected {t:?} after a complete filter")),
            }
        };
        parse().map_err(ScimError::invalid_filter)
    }

    /// Whether `resource` (a SCIM resource, or one element of a multi-valued attribute inside a
    /// value path) matches.
    pub fn matches(&self, resource: &Json) -> bool {
        match self {
            Filter::And(a, b) => a.matches(resource) && b.matches(resource),
            Filter::Or(a, b) => a.matches(resource) || b.matches(resource),
            Filter::Not(a) => !a.matches(resource),
            Filter::Present(p) => values_at(resource, p).iter().any(|v| present(v)),
            Filter::Compare(p, op, wanted) => {
                let exact = case_exact(p);
                let values = values_at(resource, p);
                if values.is_empty() {
                    // An absent attribute equals null and differs from everything else.
                    return match op {
                        Op::Eq => wanted.is_null(),
                        Op::Ne => !wanted.is_null(),
                        _ => false,
                    };
                }
                let any = values.iter().any(|v| compare(v, *op, wanted, exact));
                if *op == Op::Ne { values.iter().all(|v| compare(v, Op::Ne, wanted, exact)) } else { any }
            }
            Filter::ValuePath(p, inner) => elements_at(resource, p).iter().any(|element| inner.matches(element)),
        }
    }
}

/// Attributes compared case-sensitively (RFC 7643 marks them caseExact).
fn case_exact(p: &AttrPath) -> bool {
    p.sub.is_none() && (p.name.eq_ignore_ascii_case("id") || p.name.eq_ignore_ascii_case("externalId"))
}

fn present(v: &Json) -> bool {
    match v {
        Json::Null => false,
        Json::String(s) => !s.is_empty(),
        Json::Array(a) => !a.is_empty(),
        Json::Object(o) => !o.is_empty(),
        _ => true,
    }
}

/// A key of a JSON object, found without regard to case (SCIM attribute names are
/// case-insensitive).
pub fn get_ci<'a>(object: &'a Json, key: &str) -> Option<&'a Json> {
    object.as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v)
}

/// The values a path reaches in `resource`: multi-valued attributes give one value per element;
/// a complex multi-valued attribute compared without a sub-attribute is compared by its `value`.
fn values_at<'a>(resource: &'a Json, p: &AttrPath) -> Vec<&'a Json> {
    let flat = elements_at(resource, p);
    match &p.sub {
        Some(sub) => flat.into_iter().filter_map(|v| get_ci(v, sub)).collect(),
        None => flat.into_iter().map(|v| if v.is_object() { get_ci(v, "value").unwrap_or(v) } else { v }).collect(),
    }
}

/// The attribute a path names (its sub-attribute aside), one entry per element when it is
/// multi-valued.
fn elements_at<'a>(resource: &'a Json, p: &AttrPath) -> Vec<&'a Json> {
    let container = if p.in_enterprise() { get_ci(resource, ENTERPRISE_USER) } else { Some(resource) };
    match container.and_then(|c| get_ci(c, &p.name)) {
        None => Vec::new(),
        Some(Json::Array(items)) => items.iter().collect(),
        Some(other) => vec![other],
    }
}

fn compare(have: &Json, op: Op, wanted: &Json, exact: bool) -> bool {
    match (have, wanted) {
        (Json::String(h), Json::String(w)) => {
            let (h, w) = if exact { (h.clone(), w.clone()) } else { (h.to_lowercase(), w.to_lowercase()) };
            match op {
                Op::Eq => h == w,
                Op::Ne => h != w,
                Op::Co => h.contains(&w),
                Op::Sw => h.starts_with(&w),
                Op::Ew => h.ends_with(&w),
                Op::Gt => h > w,
                Op::Ge => h >= w,
                Op::Lt => h < w,
                Op::Le => h <= w,
            }
        }
        (Json::Number(h), Json::Number(w)) => {
            let (h, w) = (h.as_f64().unwrap_or(f64::NAN), w.as_f64().unwrap_or(f64::NAN));
            match op {
                Op::Eq => h == w,
                Op::Ne => h != w,
                Op::Gt => h > w,
                Op::Ge => h >= w,
                Op::Lt => h < w,
                Op::Le => h <= w,
                _ => false,
            }
        }
        (Json::Bool(h), Json::Bool(w)) => match op {
            Op::Eq => h == w,
            Op::Ne => h != w,
            _ => false,
        },
        // Identity providers send booleans as strings ("False") and so may compare them.
        (Json::Bool(h), Json::String(w)) if w.eq_ignore_ascii_case("true") || w.eq_ignore_ascii_case("false") => {
            compare(&Json::Bool(*h), op, &Json::Bool(w.eq_ignore_ascii_case("true")), exact)
        }
        (_, Json::Null) => op == Op::Ne,
        _ => op == Op::Ne,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn user() -> Json {
        json!({
            "id": "0193-ABC",
            "externalId": "00u1abcd",
            "userName": "Ada.Lovelace@example.com",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "active": true,
            "title": "Account Executive",
            "emails": [{"value": "ada.lovelace@example.com", "type": "work", "primary": true},
                       {"value": "ada@home.example", "type": "home"}],
            ENTERPRISE_USER: {"department": "Sales EMEA", "manager": {"value": "m-1"}},
            "meta": {"lastModified": "2026-11-30T10:00:00Z"}
        })
    }

    #[test]
    fn what_identity_providers_send_matches_as_the_rfc_says() {
        let u = user();
        let yes = [
            r#"userName eq "ada.lovelace@example.com""#,
            r#"USERNAME Eq "ADA.LOVELACE@EXAMPLE.COM""#,
            r#"externalId eq "00u1abcd""#,
            r#"name.givenName sw "ad" and active eq true"#,
            r#"emails[type eq "work" and value co "lovelace"]"#,
            r#"emails co "home.example""#,
            r#"emails.value ew "@home.example""#,
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "sales emea""#,
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName pr"#,
            r#"meta.lastModified gt "2026-01-01T00:00:00Z""#,
            r#"not (title eq "Director") and (nickName pr or title pr)"#,
            r#"active eq "True""#,
            r#"nickName eq null"#,
            r#"title ne "Director""#,
        ];
        for f in yes {
            assert!(Filter::parse(f).expect(f).matches(&u), "{f}");
        }
        let no = [
            r#"externalId eq "00U1ABCD""#,
            r#"userName eq "someone@example.com""#,
            r#"emails[type eq "home" and value co "lovelace"]"#,
            r#"nickName pr"#,
            r#"active eq false"#,
            r#"title ne "account executive""#,
        ];
        for f in no {
            assert!(!Filter::parse(f).expect(f).matches(&u), "{f}");
        }
    }

    #[test]
    fn a_bad_filter_says_what_is_wrong() {
        for (bad, says) in [
            ("", "empty"),
            ("userName", "operator"),
            ("userName eq", "value"),
            ("userName equals \"x\"", "not an operator"),
            ("userName eq bob", "quote strings"),
            ("(userName eq \"x\"", "not closed"),
            ("emails[type eq \"work\"", "not closed"),
            ("userName eq \"x", "not closed"),
            ("userName eq \"x\" title eq \"y\"", "unexpected"),
            ("not userName eq \"x\"", "parentheses"),
            ("9lives eq \"x\"", "attribute path"),
        ] {
            let e = Filter::parse(bad).expect_err(bad);
            assert_eq!(e.scim_type, Some("invalidFilter"));
            assert!(e.detail.contains(says), "{bad}: {}", e.detail);
        }
        let deep = format!("{}userName pr{}", "(".repeat(100), ")".repeat(100));
        assert!(Filter::parse(&deep).expect_err("deep").detail.contains("deeper"));
    }

    fn name() -> impl Strategy<Value = String> {
        "[a-zA-Z][a-zA-Z0-9]{0,8}"
            .prop_filter("not a keyword", |n| !["and", "or", "not", "pr"].contains(&n.to_lowercase().as_str()))
    }

    fn attr() -> impl Strategy<Value = AttrPath> {
        (prop_oneof![Just(None), Just(Some(ENTERPRISE_USER.to_string()))], name(), proptest::option::of(name()))
            .prop_map(|(schema, name, sub)| AttrPath { schema, name, sub })
    }

    fn filter() -> impl Strategy<Value = Filter> {
        let op = prop_oneof![Just(Op::Eq), Just(Op::Ne), Just(Op::Co), Just(Op::Sw), Just(Op::Gt), Just(Op::Le)];
        let value = prop_oneof![
            any::<String>().prop_map(Json::String),
            any::<bool>().prop_map(Json::Bool),
            any::<i32>().prop_map(|n| json!(n)),
            Just(Json::Null),
        ];
        let leaf = prop_oneof![
            (attr(), op, value).prop_map(|(p, o, v)| Filter::Compare(p, o, v)),
            attr().prop_map(Filter::Present),
        ];
        leaf.prop_recursive(4, 24, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
                inner.clone().prop_map(|a| Filter::Not(Box::new(a))),
                (attr(), inner).prop_map(|(p, f)| Filter::ValuePath(AttrPath { sub: None, ..p }, Box::new(f))),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_text_parses_or_is_refused_without_a_panic(text in any::<String>()) {
            if let Ok(f) = Filter::parse(&text) {
                let _ = f.matches(&user());
            }
        }

        #[test]
        fn filter_like_text_parses_or_is_refused_without_a_panic(
            text in r#"[a-zA-Z. :\[\]()"\\]{0,60}( (eq|pr|and|or|not) )?[a-z"()\[\] ]{0,30}"#
        ) {
            if let Ok(f) = Filter::parse(&text) {
                let _ = f.matches(&user());
            }
        }

        #[test]
        fn a_written_filter_reads_back_as_itself(f in filter()) {
            let text = f.to_string();
            prop_assert_eq!(Filter::parse(&text).map_err(|e| e.detail), Ok(f), "{}", text);
        }
    }
}
