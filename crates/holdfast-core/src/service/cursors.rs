//! Keyset paging: a list page ends with a cursor (the last row's sort value and id, hex-encoded
//! JSON) that the next request hands back. A cursor is trusted only when it decodes and its value
//! has the sort column's type; anything else is refused as "not a cursor this server gave out".

use serde_json::{Value as Json, json};
use uuid::Uuid;

use crate::record::{FieldType, Record, RecordKind, Value};

pub(crate) fn sort_value(kind: &RecordKind, record: &Record, sort: &str) -> Value {
    match sort {
        "created_at" => Value::Int(record.created_at),
        "updated_at" => Value::Int(record.updated_at),
        other => match (record.get(other), kind.field(other).and_then(|f| f.null_sorts_as())) {
            (Value::Null, Some(stands_in)) => stands_in,
            (v, _) => v.clone(),
        },
    }
}

pub(crate) fn encode_cursor(kind: &RecordKind, record: &Record, sort: &str) -> String {
    let v = match sort_value(kind, record, sort) {
        Value::Null => Json::Null,
        Value::Int(i) => json!(i),
        Value::Text(s) => json!(s),
    };
    hex::encode(json!([v, record.id]).to_string())
}

/// Whether a cursor's sort value is of the type the sort column holds (a crafted cursor must be
/// refused as one, not reach the database as a mistyped parameter).
pub(crate) fn fits_sort(kind: &RecordKind, sort: &str, value: &Value) -> bool {
    let numeric = match sort {
        "created_at" | "updated_at" => true,
        field => kind
            .field(field)
            .is_some_and(|f| matches!(f.ty, FieldType::Int { .. } | FieldType::Money | FieldType::Timestamp)),
    };
    match value {
        Value::Null => !matches!(sort, "created_at" | "updated_at"),
        Value::Int(_) => numeric,
        Value::Text(_) => !numeric,
    }
}

pub(crate) fn decode_cursor(cursor: &str) -> Option<(Value, Uuid)> {
    let bytes = hex::decode(cursor).ok()?;
    let parsed: Json = serde_json::from_slice(&bytes).ok()?;
    let arr = parsed.as_array()?;
    let value = match arr.first()? {
        Json::Null => Value::Null,
        Json::Number(n) => Value::Int(n.as_i64()?),
        Json::String(s) => Value::Text(s.clone()),
        _ => return None,
    };
    let id = Uuid::parse_str(arr.get(1)?.as_str()?).ok()?;
    Some((value, id))
}

#[cfg(test)]
mod cursor_tests {
    use proptest::prelude::*;

    use super::*;
    use crate::record;

    proptest! {
        /// Any text given as a cursor is a cursor this server gave out or nothing: never a panic.
        #[test]
        fn any_text_decodes_to_a_cursor_or_to_nothing(text in ".{0,200}", hexed in proptest::collection::vec(any::<u8>(), 0..120)) {
            let _ = decode_cursor(&text);
            let _ = decode_cursor(&hex::encode(&hexed));
        }

        /// What the server gives out comes back as it was, and fits the column it sorts.
        #[test]
        fn a_given_cursor_comes_back_and_fits_its_sort(amount in proptest::option::of(0i64..1_000_000_000), name in "[a-zA-Z ]{1,40}") {
            let mut rec = Record { id: Uuid::from_u128(7), created_at: 1_000, ..Default::default() };
            rec.fields.insert("name", Value::Text(name));
            if let Some(a) = amount {
                rec.fields.insert("annual_value", Value::Int(a));
            }
            for sort in ["annual_value", "name", "created_at"] {
                let (value, id) = decode_cursor(&encode_cursor(&record::ACCOUNTS, &rec, sort)).expect("round trip");
                prop_assert_eq!(id, rec.id);
                prop_assert!(fits_sort(&record::ACCOUNTS, sort, &value), "{sort}: {value:?}");
            }
        }
    }
}
