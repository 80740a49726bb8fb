//! `home-assistant`: read entity states and call services through the Home
//! Assistant REST API.
//!
//! The long-lived access token never enters this component: the host
//! injects the `HOME_ASSISTANT_TOKEN` secret into requests to the granted
//! Home Assistant address.

mod api;
mod shape;
mod validate;

use chitin_skill_sdk::prelude::*;

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 500;
const MAX_SERVICE_DATA: usize = 64 * 1024;

#[derive(Deserialize)]
struct StatesInput {
    #[serde(default)]
    domain: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    base_url: Option<String>,
}

#[derive(Deserialize)]
struct StateInput {
    entity_id: String,
    #[serde(default)]
    base_url: Option<String>,
}

#[derive(Deserialize)]
struct ServiceInput {
    domain: String,
    service: String,
    #[serde(default)]
    data: Option<Map<String, Value>>,
    #[serde(default)]
    base_url: Option<String>,
}

use serde_json::Map;

fn states(input: StatesInput) -> Result<Value, ToolError> {
    let base = validate::base_url(input.base_url.as_deref())?;
    if let Some(d) = &input.domain {
        validate::name(d, "domain")?;
    }
    let limit = input.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let all = api::call("GET", &base, "/api/states", None)?;
    let arr = all.as_array().ok_or_else(|| {
        ToolError::failed(format!(
            "{base}/api/states did not answer with a list of states"
        ))
    })?;
    let list = shape::list(arr, input.domain.as_deref(), limit, false);
    Ok(json!({
        "states": list.items,
        "count": list.matched,
        "truncated": list.matched > limit,
        "skipped_malformed": list.skipped,
    }))
}

fn state(input: StateInput) -> Result<Value, ToolError> {
    let base = validate::base_url(input.base_url.as_deref())?;
    validate::entity_id(&input.entity_id)?;
    let v = api::call(
        "GET",
        &base,
        &format!("/api/states/{}", input.entity_id),
        None,
    )?;
    shape::state(&v, true).ok_or_else(|| {
        ToolError::failed(format!(
            "{base} answered for {} without an entity_id and state",
            input.entity_id
        ))
    })
}

fn call_service(input: ServiceInput) -> Result<Value, ToolError> {
    let base = validate::base_url(input.base_url.as_deref())?;
    validate::name(&input.domain, "domain")?;
    validate::name(&input.service, "service")?;
    let data = Value::Object(input.data.unwrap_or_default());
    if data.to_string().len() > MAX_SERVICE_DATA {
        return Err(ToolError::invalid("service data is larger than 64 KiB"));
    }
    if let Some(id) = data.get("entity_id").and_then(Value::as_str) {
        validate::entity_id(id)?;
    }
    let path = format!("/api/services/{}/{}", input.domain, input.service);
    let changed = api::call("POST", &base, &path, Some(&data))?;
    let arr = changed.as_array().ok_or_else(|| {
        ToolError::failed(format!(
            "{base}{path} did not answer with the list of changed states"
        ))
    })?;
    let list = shape::list(arr, None, MAX_LIMIT, false);
    Ok(json!({
        "called": format!("{}.{}", input.domain, input.service),
        "changed": list.items,
        "count": list.matched,
        "truncated": list.matched > MAX_LIMIT,
    }))
}

const BASE_DOC: &str = "Home Assistant address (default http://homeassistant.local:8123); it must be granted to this skill";

fn skill() -> Skill {
    let effects = || {
        [
            Effect::Network,
            Effect::UsesSecret("HOME_ASSISTANT_TOKEN".into()),
        ]
    };
    Skill::new()
        .tool(
            Tool::new(
                "states",
                "List Home Assistant entities and their current states (read-only). Filter by domain, e.g. `light`, `sensor`, `switch`.",
                json!({"type": "object", "properties": {
                    "domain": {"type": "string", "description": "Only entities of this domain, e.g. `light`"},
                    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "description": "Most entities returned (default 100)"},
                    "base_url": {"type": "string", "description": BASE_DOC}}}),
            )
            .effects(effects()),
            states,
        )
        .tool(
            Tool::new(
                "state",
                "Get one entity's state and attributes (read-only), e.g. `sensor.living_room_temperature`.",
                json!({"type": "object", "required": ["entity_id"], "properties": {
                    "entity_id": {"type": "string", "description": "`domain.object_id`, e.g. `light.kitchen`"},
                    "base_url": {"type": "string", "description": BASE_DOC}}}),
            )
            .effects(effects()),
            state,
        )
        .tool(
            Tool::new(
                "call_service",
                "WRITES: call a Home Assistant service that changes the home (e.g. domain `light`, service `turn_on`, data {\"entity_id\": \"light.kitchen\", \"brightness_pct\": 50}). Returns the states that changed. Confirm with the user before calling.",
                json!({"type": "object", "required": ["domain", "service"], "properties": {
                    "domain": {"type": "string", "description": "Service domain, e.g. `light`, `switch`, `climate`"},
                    "service": {"type": "string", "description": "Service name, e.g. `turn_on`, `turn_off`, `toggle`"},
                    "data": {"type": "object", "description": "Service data, e.g. {\"entity_id\": \"light.kitchen\"}"},
                    "base_url": {"type": "string", "description": BASE_DOC}}}),
            )
            .effects(effects()),
            call_service,
        )
}

chitin_skill_sdk::export_skill!(skill);
