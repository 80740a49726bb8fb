//! `weather`: Open-Meteo's forecast and geocoding APIs, faked on 127.0.0.1
//! with recorded-style answers.

use crate::support::*;
use chitin::CallError;
use serde_json::{Value, json};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(root().join("tests/fixtures/daily/weather").join(name)).unwrap()
}

const JSON: &[(&str, &str)] = &[("Content-Type", "application/json; charset=utf-8")];

async fn forecast(server: &TestServer, mut input: Value) -> chitin::CallOutcome {
    input["api"] = json!(server.base());
    input["geocoding_api"] = json!(server.base());
    call(
        &load("weather"),
        &net_grant(&[&server.base()]),
        "forecast",
        input,
    )
    .await
}

fn failed(out: &chitin::CallOutcome) -> String {
    match &out.result {
        Err(CallError::Failed(m)) => m.clone(),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_place_name_is_geocoded_then_forecast_in_words() {
    let server = TestServer::start();
    server.route("/v1/search", 200, JSON, fixture("geocoding-berlin.json"));
    server.route("/v1/forecast", 200, JSON, fixture("forecast-berlin.json"));
    let out = forecast(&server, json!({"place": "Berlin"})).await;
    let v: Value = serde_json::from_str(ok(&out)).unwrap();
    assert_eq!(v["location"]["name"], "Berlin, Land Berlin, Germany");
    assert_eq!(v["location"]["latitude"], 52.52437);
    assert_eq!(v["timezone"], "Europe/Berlin");
    assert_eq!(v["units"]["temperature"], "°C");
    assert_eq!(v["units"]["wind_speed"], "km/h");
    assert_eq!(v["units"]["precipitation"], "mm");
    assert_eq!(v["current"]["conditions"], "Slight rain");
    assert_eq!(v["current"]["temperature"], 3.4);
    assert_eq!(v["current"]["humidity"], 81);
    assert_eq!(v["current"]["time"], "2026-01-15T14:00");
    let daily = v["daily"].as_array().unwrap();
    assert_eq!(daily.len(), 3);
    assert_eq!(daily[1]["conditions"], "Overcast");
    assert_eq!(daily[2]["conditions"], "Slight snowfall");
    assert_eq!(daily[2]["temperature_min"], -3.5);
    assert_eq!(daily[0]["precipitation"], 2.4);
    assert_eq!(daily[0]["date"], "2026-01-15");

    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].path, "/v1/search?name=Berlin&count=1&format=json");
    assert_eq!(
        reqs[1].path,
        "/v1/forecast?latitude=52.52437&longitude=13.41053\
         &current=temperature_2m%2Crelative_humidity_2m%2Cweather_code%2Cwind_speed_10m\
         &daily=temperature_2m_max%2Ctemperature_2m_min%2Cprecipitation_sum%2Cweather_code\
         &timezone=auto&forecast_days=3"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinates_skip_geocoding_and_rows_are_capped_to_the_days_asked() {
    let server = TestServer::start();
    server.route("/v1/forecast", 200, JSON, fixture("forecast-berlin.json"));
    let out = forecast(
        &server,
        json!({"latitude": -33.8688, "longitude": 151.2093, "days": 2}),
    )
    .await;
    let v: Value = serde_json::from_str(ok(&out)).unwrap();
    assert!(v["location"].get("name").is_none());
    // The fake answered three rows; two were asked for.
    assert_eq!(v["daily"].as_array().unwrap().len(), 2);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert!(
        reqs[0]
            .path
            .starts_with("/v1/forecast?latitude=-33.8688&longitude=151.2093&"),
        "{}",
        reqs[0].path
    );
    assert!(reqs[0].path.ends_with("&forecast_days=2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn place_names_are_encoded_and_unknown_places_say_what_to_do() {
    let server = TestServer::start();
    server.route("/v1/search", 200, JSON, fixture("geocoding-none.json"));
    let m = failed(&forecast(&server, json!({"place": "São Paulo&count=100#x"})).await);
    assert!(m.contains("no place named `São Paulo&count=100#x`"), "{m}");
    assert!(m.contains("latitude and longitude"), "{m}");
    assert_eq!(
        server.requests()[0].path,
        "/v1/search?name=S%C3%A3o+Paulo%26count%3D100%23x&count=1&format=json"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ungranted_apis_are_denied_with_the_grant_to_give() {
    let server = TestServer::start();
    server.route("/v1/search", 200, JSON, fixture("geocoding-berlin.json"));
    let skill = load("weather");
    let out = call(
        &skill,
        &net_grant(&[]),
        "forecast",
        json!({"place": "Berlin", "geocoding_api": server.base(), "api": server.base()}),
    )
    .await;
    match &out.result {
        Err(CallError::Denied(m)) => assert!(
            m.contains(&format!("chitin skill grant weather net:{}", server.base())),
            "{m}"
        ),
        other => panic!("expected a denial, got {other:?}"),
    }
    // Geocoding granted, the forecast API (another origin) not.
    let other = TestServer::start();
    let out = call(
        &skill,
        &net_grant(&[&server.base()]),
        "forecast",
        json!({"place": "Berlin", "geocoding_api": server.base(), "api": other.base()}),
    )
    .await;
    match &out.result {
        Err(CallError::Denied(m)) => assert!(m.contains(&other.base()), "{m}"),
        other => panic!("expected a denial, got {other:?}"),
    }
    assert_eq!(server.requests().len(), 1);
    assert!(other.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_or_broken_answers_fail_clearly_or_are_neutralized() {
    let s = TestServer::start();
    let at = json!({"latitude": 1.0, "longitude": 2.0});

    s.route(
        "/v1/forecast",
        200,
        &[("Content-Type", "text/html")],
        "<html><body>502 Bad Gateway</body></html>",
    );
    let m = failed(&forecast(&s, at.clone()).await);
    assert!(m.contains("HTML, not JSON"), "{m}");

    s.route("/v1/forecast", 400, JSON, fixture("error-days.json"));
    let m = failed(&forecast(&s, at.clone()).await);
    assert!(
        m.contains("HTTP 400: Forecast days is invalid. Allowed range 0 to 16."),
        "{m}"
    );

    s.route(
        "/v1/forecast",
        200,
        JSON,
        format!(r#"{{"pad": "{}"}}"#, "x".repeat(2 << 20)),
    );
    let m = failed(&forecast(&s, at.clone()).await);
    assert!(m.contains("more than 1024 KiB"), "{m}");

    s.route(
        "/v1/forecast",
        200,
        JSON,
        r#"{"daily": {"time": "2026-01-15"}}"#,
    );
    let m = failed(&forecast(&s, at.clone()).await);
    assert!(m.contains("without a `time` list"), "{m}");

    s.route("/v1/forecast", 200, JSON, "[1, 2, 3]");
    let m = failed(&forecast(&s, at.clone()).await);
    assert!(m.contains("not an object"), "{m}");

    // Wrong types become null, unknown codes are named, escape sequences
    // and bidi overrides never reach the output, extra rows are dropped.
    let body = json!({
        "timezone": "Europe/\u{1b}]0;pwned\u{7}Berlin\u{202e}",
        "current": {"time": "2026-01-15T14:00", "temperature_2m": "hot", "weather_code": 1234,
                    "relative_humidity_2m": null, "wind_speed_10m": [1]},
        "daily": {"time": (0..500).map(|i| format!("d{i}")).collect::<Vec<_>>(),
                  "temperature_2m_max": [1.5], "temperature_2m_min": [], "precipitation_sum": ["x"],
                  "weather_code": ["rain"]}
    });
    s.route("/v1/forecast", 200, JSON, body.to_string());
    let out = forecast(&s, json!({"latitude": 1.0, "longitude": 2.0, "days": 16})).await;
    let text = ok(&out);
    assert!(!text.contains('\u{1b}') && !text.contains('\u{7}') && !text.contains('\u{202e}'));
    let v: Value = serde_json::from_str(text).unwrap();
    assert_eq!(v["timezone"], "Europe/]0;pwnedBerlin");
    assert_eq!(v["current"]["temperature"], Value::Null);
    assert_eq!(v["current"]["wind_speed"], Value::Null);
    assert_eq!(v["current"]["conditions"], "unknown weather code 1234");
    let daily = v["daily"].as_array().unwrap();
    assert_eq!(daily.len(), 16);
    assert_eq!(daily[0]["temperature_max"], 1.5);
    assert_eq!(daily[0]["temperature_min"], Value::Null);
    assert_eq!(daily[0]["precipitation"], Value::Null);
    assert_eq!(daily[0]["conditions"], "unknown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_are_refused_before_any_request() {
    let server = TestServer::start();
    for bad in [
        json!({"latitude": 91.0, "longitude": 0.0}),
        json!({"latitude": 0.0, "longitude": -180.5}),
        json!({"latitude": 10.0}),
        json!({"place": "Berlin", "latitude": 1.0, "longitude": 2.0}),
        json!({}),
        json!({"place": "  "}),
        json!({"place": "Ber\nlin"}),
        json!({"place": "x".repeat(101)}),
        json!({"latitude": 1.0, "longitude": 2.0, "days": 0}),
        json!({"latitude": 1.0, "longitude": 2.0, "days": 17}),
        json!({"latitude": 1.0, "longitude": 2.0, "unit": "F"}),
    ] {
        let out = forecast(&server, bad.clone()).await;
        assert!(
            matches!(out.result, Err(CallError::InvalidInput(_))),
            "{bad}: {:?}",
            out.result
        );
    }
    let out = call(
        &load("weather"),
        &net_grant(&[&server.base()]),
        "forecast",
        json!({"latitude": 1.0, "longitude": 2.0, "api": "ftp://127.0.0.1/"}),
    )
    .await;
    assert!(
        matches!(out.result, Err(CallError::InvalidInput(_))),
        "{:?}",
        out.result
    );
    assert!(server.requests().is_empty());
}
