//! Write Chitin skills in Rust.
//!
//! A skill is a set of tools. Each tool is a plain function taking a serde
//! input type; the SDK generates the WIT glue (`chitin:skill@0.1.0`),
//! decodes input JSON, encodes output, and turns errors into the contract's
//! typed `tool-error`.
//!
//! ```ignore
//! use chitin_skill_sdk::prelude::*;
//!
//! #[derive(Deserialize)]
//! struct Greet { name: String }
//!
//! fn skill() -> Skill {
//!     Skill::new().tool(
//!         Tool::new("greet", "Say hello", json!({"type": "object",
//!             "properties": {"name": {"type": "string"}}, "required": ["name"]})),
//!         |input: Greet| Ok(format!("hello, {}", input.name)),
//!     )
//! }
//! chitin_skill_sdk::export_skill!(skill);
//! ```
//!
//! Files: use `std::fs` on the guest paths your manifest requests; they map
//! to the directories the user granted (WASI preopens) and nothing else.
//! HTTP: use [`http`], which speaks `wasi:http`; the host applies the
//! allow-list and injects secrets.

pub mod endpoint;
pub mod http;
pub mod log;
mod skill;
pub mod text;

pub use skill::{Effect, Skill, Tool, ToolError};

/// Generated bindings for the `chitin:skill` world (and the WASI interfaces
/// it imports). Skill authors rarely need these directly.
#[allow(missing_docs, unsafe_code, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "chitin:skill/skill",
        pub_export_macro: true,
        export_macro_name: "export_raw",
        default_bindings_module: "chitin_skill_sdk::bindings",
        generate_all,
    });
}

/// Everything a skill usually needs, in one import.
pub mod prelude {
    pub use crate::http;
    pub use crate::log;
    pub use crate::{Effect, Skill, Tool, ToolError};
    pub use serde::{Deserialize, Serialize};
    pub use serde_json::{Value, json};
}

#[doc(hidden)]
pub mod __private {
    pub use crate::bindings::exports::chitin::skill::tools::{Guest, Tool, ToolError};
    pub use serde_json;
}

/// Export a skill: `export_skill!(build)` where `build: fn() -> Skill`.
///
/// Generates the component exports of `chitin:skill/tools`; the function is
/// called once per call (building a `Skill` is cheap: no I/O).
#[macro_export]
macro_rules! export_skill {
    ($build:path) => {
        struct __ChitinSkill;

        impl $crate::__private::Guest for __ChitinSkill {
            fn list_tools() -> ::std::vec::Vec<$crate::__private::Tool> {
                $build().describe()
            }

            fn call(
                name: ::std::string::String,
                input: ::std::string::String,
            ) -> ::std::result::Result<::std::string::String, $crate::__private::ToolError> {
                $build().call(&name, &input).map_err(::std::convert::Into::into)
            }
        }

        $crate::bindings::export_raw!(__ChitinSkill with_types_in $crate::bindings);
    };
}
