//! Open-Meteo's forecast API: `GET {api}/v1/forecast?latitude=…&longitude=…
//! &current=…&daily=…&timezone=auto&forecast_days=N`, answering
//! `{"current": {"time", "temperature_2m", …}, "current_units": {…},
//! "daily": {"time": [...], "temperature_2m_max": [...], …}, "daily_units": {…}}`
//! (columns, one array per variable, one entry per day).

use crate::endpoint::{self, Base};
use crate::{MAX_BODY, text, wmo};
use chitin_skill_sdk::prelude::*;

const SERVICE: &str = "Open-Meteo forecast";
const CURRENT: &str = "temperature_2m,relative_humidity_2m,weather_code,wind_speed_10m";
const DAILY: &str = "temperature_2m_max,temperature_2m_min,precipitation_sum,weather_code";

/// Current conditions.
#[derive(Debug, Serialize)]
pub struct Current {
    /// Local time of the observation, as the API gives it.
    pub time: Value,
    /// Air temperature at 2 m.
    pub temperature: Value,
    /// Relative humidity at 2 m, percent.
    pub humidity: Value,
    /// Wind speed at 10 m.
    pub wind_speed: Value,
    /// The weather in words.
    pub conditions: String,
    /// The WMO weather code.
    pub weather_code: Value,
}

/// One day of the forecast.
#[derive(Debug, Serialize)]
pub struct Day {
    /// Local date, `YYYY-MM-DD`.
    pub date: Value,
    /// The day's weather in words.
    pub conditions: String,
    /// The WMO weather code.
    pub weather_code: Value,
    /// Highest temperature.
    pub temperature_max: Value,
    /// Lowest temperature.
    pub temperature_min: Value,
    /// Precipitation sum.
    pub precipitation: Value,
}

/// A forecast, as the tool returns it.
#[derive(Debug, Serialize)]
pub struct Forecast {
    /// The location's time zone, as the API resolved it.
    pub timezone: Value,
    /// Units of the numbers below.
    pub units: Value,
    /// Now.
    pub current: Option<Current>,
    /// One entry per day, from today.
    pub daily: Vec<Day>,
}

/// Fetch `days` days of forecast for a point.
pub fn fetch(
    base: &Base,
    latitude: f64,
    longitude: f64,
    days: usize,
) -> Result<Forecast, ToolError> {
    let mut qs = form_urlencoded::Serializer::new(String::new());
    qs.append_pair("latitude", &latitude.to_string())
        .append_pair("longitude", &longitude.to_string())
        .append_pair("current", CURRENT)
        .append_pair("daily", DAILY)
        .append_pair("timezone", "auto")
        .append_pair("forecast_days", &days.to_string());
    let url = format!("{}/v1/forecast?{}", base.url, qs.finish());
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
    let v = endpoint::json(&reply, SERVICE, "is `api` the Open-Meteo forecast API?")?;
    if !v.is_object() {
        return Err(ToolError::failed(format!(
            "{SERVICE} sent JSON that is not an object"
        )));
    }
    Ok(Forecast {
        timezone: short_text(&v["timezone"]),
        units: units(&v),
        current: v.get("current").filter(|c| c.is_object()).map(current),
        daily: daily(&v["daily"], days)?,
    })
}

/// A number, or null for anything else the API might send.
fn number(v: &Value) -> Value {
    if v.is_number() {
        v.clone()
    } else {
        Value::Null
    }
}

/// A short plain string, or null.
fn short_text(v: &Value) -> Value {
    v.as_str()
        .map(|s| Value::String(text::cap(&text::collapse(s), 40).0))
        .unwrap_or(Value::Null)
}

fn units(v: &Value) -> Value {
    let (cu, du) = (&v["current_units"], &v["daily_units"]);
    json!({
        "temperature": short_text(if du["temperature_2m_max"].is_string() { &du["temperature_2m_max"] } else { &cu["temperature_2m"] }),
        "humidity": short_text(&cu["relative_humidity_2m"]),
        "wind_speed": short_text(&cu["wind_speed_10m"]),
        "precipitation": short_text(&du["precipitation_sum"]),
    })
}

fn current(c: &Value) -> Current {
    Current {
        time: short_text(&c["time"]),
        temperature: number(&c["temperature_2m"]),
        humidity: number(&c["relative_humidity_2m"]),
        wind_speed: number(&c["wind_speed_10m"]),
        conditions: wmo::conditions(&c["weather_code"]),
        weather_code: number(&c["weather_code"]),
    }
}

fn daily(d: &Value, days: usize) -> Result<Vec<Day>, ToolError> {
    if d.is_null() {
        return Ok(Vec::new());
    }
    let column = |key: &str| -> Result<&[Value], ToolError> {
        d.get(key)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .ok_or_else(|| {
                ToolError::failed(format!("{SERVICE} sent `daily` without a `{key}` list"))
            })
    };
    let dates = column("time")?;
    let (max, min) = (column("temperature_2m_max")?, column("temperature_2m_min")?);
    let (rain, code) = (column("precipitation_sum")?, column("weather_code")?);
    // Never more rows than asked for, whatever the columns hold.
    let rows = dates.len().min(days);
    let at = |col: &[Value], i: usize| col.get(i).map_or(Value::Null, number);
    Ok((0..rows)
        .map(|i| Day {
            date: short_text(&dates[i]),
            conditions: wmo::conditions(&code.get(i).cloned().unwrap_or(Value::Null)),
            weather_code: at(code, i),
            temperature_max: at(max, i),
            temperature_min: at(min, i),
            precipitation: at(rain, i),
        })
        .collect())
}
