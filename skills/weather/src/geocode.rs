//! Open-Meteo's geocoding API: `GET {api}/v1/search?name=…&count=1`,
//! answering `{"results": [{"name", "latitude", "longitude", "country",
//! "admin1", "timezone", …}]}` (no `results` when nothing matched).

use crate::endpoint::{self, Base};
use crate::{MAX_BODY, text};
use chitin_skill_sdk::prelude::*;

const SERVICE: &str = "Open-Meteo geocoding";

/// A place the geocoder found.
#[derive(Debug, Serialize)]
pub struct Place {
    /// "Name, region, country", plain text.
    pub name: String,
    /// Degrees north.
    pub latitude: f64,
    /// Degrees east.
    pub longitude: f64,
}

/// The best match for `name`.
pub fn lookup(base: &Base, name: &str) -> Result<Place, ToolError> {
    let mut qs = form_urlencoded::Serializer::new(String::new());
    qs.append_pair("name", name)
        .append_pair("count", "1")
        .append_pair("format", "json");
    let url = format!("{}/v1/search?{}", base.url, qs.finish());
    let reply = endpoint::get(
        crate::SKILL,
        base,
        &url,
        &[("accept", "application/json")],
        MAX_BODY,
        SERVICE,
    )?;
    if reply.status != 200 {
        return Err(crate::api_error(SERVICE, &base.origin, &reply));
    }
    let v = endpoint::json(
        &reply,
        SERVICE,
        "is `geocoding_api` the Open-Meteo geocoding API?",
    )?;
    let not_found = || {
        ToolError::failed(format!(
            "no place named `{}` was found: try the nearest city's name, or give latitude and longitude",
            endpoint::short(name)
        ))
    };
    let first = v
        .get("results")
        .and_then(Value::as_array)
        .and_then(|r| r.first())
        .ok_or_else(not_found)?;
    let coord = |key: &str, max: f64| {
        first
            .get(key)
            .and_then(Value::as_f64)
            .filter(|x| x.abs() <= max)
            .ok_or_else(|| {
                ToolError::failed(format!("{SERVICE} sent a result without a valid `{key}`"))
            })
    };
    let parts: Vec<String> = ["name", "admin1", "country"]
        .iter()
        .filter_map(|k| first.get(*k).and_then(Value::as_str))
        .map(|s| text::cap(&text::collapse(s), 80).0)
        .filter(|s| !s.is_empty())
        .collect();
    let mut unique: Vec<String> = Vec::new();
    for p in parts {
        if !unique.contains(&p) {
            unique.push(p);
        }
    }
    Ok(Place {
        name: unique.join(", "),
        latitude: coord("latitude", 90.0)?,
        longitude: coord("longitude", 180.0)?,
    })
}
