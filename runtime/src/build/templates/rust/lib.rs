use chitin_skill_sdk::prelude::*;

#[derive(Deserialize)]
struct Greet {
    name: String,
}

fn greet(input: Greet) -> Result<String, ToolError> {
    Ok(format!("hello, {}", input.name))
}

fn skill() -> Skill {
    Skill::new().tool(
        Tool::new(
            "greet",
            "Say hello to someone.",
            json!({"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}),
        ),
        greet,
    )
}

chitin_skill_sdk::export_skill!(skill);
