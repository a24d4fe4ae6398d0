//! Query strings as list requests: the same parameters steer an API list, a list page and an
//! export (`q`, `owner`, `sort`, `limit`, `cursor`, `offset`, `deleted`, and `field=value`).

use holdfast_core::service::ListRequest;

use crate::problem::ApiError;

pub(crate) fn parse_num<T: std::str::FromStr>(name: &str, v: &str) -> Result<T, ApiError> {
    v.parse().map_err(|_| ApiError::field(name, format!("'{v}' is not a whole number")))
}

pub(crate) fn parse_bool(name: &str, v: &str) -> Result<bool, ApiError> {
    match v {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" | "" => Ok(false),
        _ => Err(ApiError::field(name, "must be true or false")),
    }
}

/// Splits query parameters into the list request's known parts and field filters.
pub(crate) fn list_request(params: Vec<(String, String)>) -> Result<ListRequest, ApiError> {
    let mut req = ListRequest::default();
    for (k, v) in params {
        match k.as_str() {
            "q" => req.q = Some(v).filter(|q| !q.trim().is_empty()),
            "owner" => req.owner = Some(v),
            "sort" => req.sort = Some(v),
            "limit" => req.limit = Some(parse_num("limit", &v)?),
            "cursor" => req.cursor = Some(v).filter(|c| !c.is_empty()),
            "offset" => req.offset = Some(parse_num("offset", &v)?),
            "deleted" => req.deleted = parse_bool("deleted", &v)?,
            _ => req.filters.push((k, v)),
        }
    }
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_parameters_steer_and_the_rest_filter() {
        let req = list_request(vec![
            ("q".into(), "acme".into()),
            ("limit".into(), "20".into()),
            ("stage".into(), "proposal".into()),
            ("stage".into(), "negotiation".into()),
        ])
        .expect("valid");
        assert_eq!(req.q.as_deref(), Some("acme"));
        assert_eq!(req.limit, Some(20));
        assert_eq!(req.filters.len(), 2);
        assert!(list_request(vec![("limit".into(), "many".into())]).is_err());
        assert!(list_request(vec![("deleted".into(), "perhaps".into())]).is_err());
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Any query string becomes a list request or a field problem: never a panic.
        #[test]
        fn any_parameters_parse_or_are_refused(params in proptest::collection::vec(("[a-z_]{0,12}", ".{0,40}"), 0..12)) {
            let _ = list_request(params);
        }
    }
}
