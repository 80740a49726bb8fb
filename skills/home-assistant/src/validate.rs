//! Input checks: the base URL and the identifiers that become URL path
//! segments (so no input can add a segment, a query or another host).

use chitin_skill_sdk::ToolError;

/// The default Home Assistant address (mDNS name, default port).
pub const DEFAULT_BASE: &str = "http://homeassistant.local:8123";

/// `http(s)://host[:port][/prefix]` without a trailing slash, query,
/// fragment or credentials.
pub fn base_url(input: Option<&str>) -> Result<String, ToolError> {
    let raw = input.unwrap_or(DEFAULT_BASE).trim();
    let rest = raw
        .strip_prefix("https://")
        .or_else(|| raw.strip_prefix("http://"))
        .ok_or_else(|| {
            ToolError::invalid(format!(
                "base_url `{raw}` must start with http:// or https:// (e.g. {DEFAULT_BASE})"
            ))
        })?;
    let authority = rest.split('/').next().unwrap_or("");
    let bad = authority.is_empty()
        || raw.contains(['?', '#', '@', ' ', '\\'])
        || raw.chars().any(char::is_control);
    if bad {
        return Err(ToolError::invalid(format!(
            "base_url `{raw}` is not a plain http(s)://host[:port] address"
        )));
    }
    Ok(raw.trim_end_matches('/').to_string())
}

/// A Home Assistant slug (domain, object id, service): lowercase ASCII
/// letters, digits and `_`, not starting or ending with `_`.
pub fn slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !s.starts_with('_')
        && !s.ends_with('_')
}

/// Check a domain or service name.
pub fn name(s: &str, what: &str) -> Result<(), ToolError> {
    if slug(s) {
        Ok(())
    } else {
        Err(ToolError::invalid(format!(
            "{what} `{s}` is not valid: use lowercase letters, digits and `_` (e.g. `light`, `turn_on`)"
        )))
    }
}

/// Check an entity id: `domain.object_id`, both slugs, no `__` in the domain.
pub fn entity_id(s: &str) -> Result<(), ToolError> {
    let ok = s
        .split_once('.')
        .is_some_and(|(d, o)| slug(d) && slug(o) && !d.contains("__"));
    if ok {
        Ok(())
    } else {
        Err(ToolError::invalid(format!(
            "entity_id `{s}` is not valid: it is `domain.object_id` in lowercase, e.g. `light.kitchen`"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_ids() {
        assert!(entity_id("light.kitchen_2").is_ok());
        for bad in [
            "light",
            "light.",
            ".x",
            "Light.x",
            "light.x/../y",
            "light.x?a=1",
            "a__b.c",
            "light._x",
        ] {
            assert!(entity_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn base_urls() {
        assert_eq!(base_url(None).unwrap(), DEFAULT_BASE);
        assert_eq!(
            base_url(Some("https://ha.example.org/")).unwrap(),
            "https://ha.example.org"
        );
        for bad in [
            "ftp://x",
            "http://",
            "http://a@b",
            "http://h/?q",
            "http://h/#f",
        ] {
            assert!(base_url(Some(bad)).is_err(), "{bad}");
        }
    }
}
