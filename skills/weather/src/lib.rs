//! `weather`: forecasts from Open-Meteo (no key), for coordinates or a
//! place name resolved through Open-Meteo's geocoding API, with WMO
//! weather codes turned into words.

use chitin_skill_sdk::endpoint;
mod forecast;
mod geocode;
use chitin_skill_sdk::text;
mod wmo;

use chitin_skill_sdk::prelude::*;

/// This skill's name, as `chitin skill grant` takes it.
pub(crate) const SKILL: &str = "weather";
/// Largest response body read from either API (a 16-day forecast is ~2 KiB).
pub(crate) const MAX_BODY: usize = 1024 * 1024;
const MAX_DAYS: u32 = 16;
const DEFAULT_DAYS: u32 = 3;
const MAX_PLACE: usize = 100;

const DEFAULT_API: &str = "https://api.open-meteo.com";
const DEFAULT_GEOCODING_API: &str = "https://geocoding-api.open-meteo.com";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ForecastInput {
    #[serde(default)]
    latitude: Option<f64>,
    #[serde(default)]
    longitude: Option<f64>,
    #[serde(default)]
    place: Option<String>,
    #[serde(default)]
    days: Option<u32>,
    #[serde(default)]
    api: Option<String>,
    #[serde(default)]
    geocoding_api: Option<String>,
}

#[derive(Serialize)]
struct Location {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    latitude: f64,
    longitude: f64,
}

#[derive(Serialize)]
struct ForecastOutput {
    location: Location,
    #[serde(flatten)]
    forecast: forecast::Forecast,
}

/// An error status from either API, with Open-Meteo's own `reason`
/// (`{"error": true, "reason": "…"}`) when the body has one.
pub(crate) fn api_error(service: &str, origin: &str, reply: &endpoint::Reply) -> ToolError {
    let reason = serde_json::from_slice::<Value>(&reply.body)
        .ok()
        .and_then(|v| v.get("reason").and_then(Value::as_str).map(endpoint::short))
        .map(|r| format!(": {r}"))
        .unwrap_or_default();
    let status = reply.status;
    match status {
        429 => ToolError::failed(format!(
            "{service} at {origin} is rate-limiting this client (HTTP 429){reason}: try again later"
        )),
        _ => ToolError::failed(format!(
            "{service} at {origin} answered HTTP {status}{reason}"
        )),
    }
}

fn coordinate(value: f64, max: f64, what: &str) -> Result<f64, ToolError> {
    if value.is_finite() && value.abs() <= max {
        Ok(value)
    } else {
        Err(ToolError::invalid(format!(
            "`{what}` must be between -{max} and {max}"
        )))
    }
}

fn forecast(input: ForecastInput) -> Result<ForecastOutput, ToolError> {
    let days = input.days.unwrap_or(DEFAULT_DAYS);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(ToolError::invalid(format!(
            "`days` must be between 1 and {MAX_DAYS}"
        )));
    }
    let api = endpoint::parse(input.api.as_deref().unwrap_or(DEFAULT_API), "api")?;
    let location = match (input.latitude, input.longitude, input.place.as_deref()) {
        (Some(lat), Some(lon), None) => Location {
            name: None,
            latitude: coordinate(lat, 90.0, "latitude")?,
            longitude: coordinate(lon, 180.0, "longitude")?,
        },
        (None, None, Some(place)) => {
            let place = place.trim();
            if place.is_empty()
                || place.chars().count() > MAX_PLACE
                || place.chars().any(char::is_control)
            {
                return Err(ToolError::invalid(format!(
                    "`place` must be a place name of 1 to {MAX_PLACE} characters, such as `Berlin`"
                )));
            }
            let geo = endpoint::parse(
                input
                    .geocoding_api
                    .as_deref()
                    .unwrap_or(DEFAULT_GEOCODING_API),
                "geocoding_api",
            )?;
            let found = geocode::lookup(&geo, place)?;
            Location {
                name: Some(found.name),
                latitude: found.latitude,
                longitude: found.longitude,
            }
        }
        _ => {
            return Err(ToolError::invalid(
                "give either `place` (a place name) or both `latitude` and `longitude`",
            ));
        }
    };
    let forecast = forecast::fetch(&api, location.latitude, location.longitude, days as usize)?;
    Ok(ForecastOutput { location, forecast })
}

fn skill() -> Skill {
    let schema = json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "place": {"type": "string", "maxLength": MAX_PLACE,
                "description": "A place name such as `Berlin` or `Lyon`; the best match is used. Give this or latitude/longitude."},
            "latitude": {"type": "number", "minimum": -90, "maximum": 90, "description": "Degrees north (with `longitude`)."},
            "longitude": {"type": "number", "minimum": -180, "maximum": 180, "description": "Degrees east (with `latitude`)."},
            "days": {"type": "integer", "minimum": 1, "maximum": MAX_DAYS, "default": DEFAULT_DAYS,
                "description": "Days of forecast, from today."},
            "api": {"type": "string", "default": DEFAULT_API,
                "description": "Forecast API base URL, for a self-hosted Open-Meteo (must be granted)."},
            "geocoding_api": {"type": "string", "default": DEFAULT_GEOCODING_API,
                "description": "Geocoding API base URL (must be granted)."}
        }
    });
    Skill::new().tool(
        Tool::new(
            "forecast",
            "Current weather and a daily forecast (conditions in words, min/max temperature, \
             precipitation) for a place name or coordinates. Times are the place's local time.",
            schema,
        )
        .effects([Effect::Network]),
        forecast,
    )
}

chitin_skill_sdk::export_skill!(skill);
