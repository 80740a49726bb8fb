//! Host bindings for the `chitin:skill` world, generated from `wit/`. The
//! standard WASI interfaces map to wasmtime-wasi's and wasmtime-wasi-http's
//! implementations.

#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "chitin:skill/skill",
    exports: { default: async },
    require_store_data_send: true,
    with: {
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        "wasi:filesystem": wasmtime_wasi::p2::bindings::filesystem,
        "wasi:random": wasmtime_wasi::p2::bindings::random,
        "wasi:cli": wasmtime_wasi::p2::bindings::cli,
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
    },
});

pub use self::chitin::skill::types::{Effect, ToolError as WitToolError};
pub use self::exports::chitin::skill::tools::Tool as WitTool;
