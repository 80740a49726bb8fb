//! WMO weather interpretation codes (as Open-Meteo documents them) in words.

/// The words for a WMO code, or `None` for a code outside the table.
pub fn describe(code: i64) -> Option<&'static str> {
    Some(match code {
        0 => "Clear sky",
        1 => "Mainly clear",
        2 => "Partly cloudy",
        3 => "Overcast",
        45 => "Fog",
        48 => "Depositing rime fog",
        51 => "Light drizzle",
        53 => "Moderate drizzle",
        55 => "Dense drizzle",
        56 => "Light freezing drizzle",
        57 => "Dense freezing drizzle",
        61 => "Slight rain",
        63 => "Moderate rain",
        65 => "Heavy rain",
        66 => "Light freezing rain",
        67 => "Heavy freezing rain",
        71 => "Slight snowfall",
        73 => "Moderate snowfall",
        75 => "Heavy snowfall",
        77 => "Snow grains",
        80 => "Slight rain showers",
        81 => "Moderate rain showers",
        82 => "Violent rain showers",
        85 => "Slight snow showers",
        86 => "Heavy snow showers",
        95 => "Thunderstorm",
        96 => "Thunderstorm with slight hail",
        99 => "Thunderstorm with heavy hail",
        _ => return None,
    })
}

/// Words for a code as the API sent it (any JSON value).
pub fn conditions(code: &serde_json::Value) -> String {
    match code.as_i64() {
        Some(c) => describe(c).map_or_else(|| format!("unknown weather code {c}"), str::to_string),
        None => "unknown".to_string(),
    }
}
