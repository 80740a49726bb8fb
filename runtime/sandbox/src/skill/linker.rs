//! What every skill is linked against: all of WASI p2 and `wasi:http`
//! (Python and JS components import more than they use), the Chitin `log`
//! interface, and the filesystem guard in place of wasmtime's own
//! filesystem and sockets hosts. What a call may actually do is decided by
//! its store: no sockets (refused and audited), no env, only the granted directories
//! (`capabilities::fs::guard`), an HTTP hook that refuses anything not
//! granted (`capabilities::net`).

use super::bindings::chitin::skill::log;
use super::state::CallState;
use crate::capabilities::fs::guard::GuardedFs;
use crate::capabilities::sockets::DeniedSockets;
use crate::engine::EngineError;
use wasmtime::Engine;
use wasmtime::component::{HasSelf, Linker};

/// The linker for `engine`.
pub fn build(engine: &Engine) -> Result<Linker<CallState>, EngineError> {
    let err = |e: wasmtime::Error| EngineError(format!("{e:#}"));
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(err)?;
    // The filesystem goes through the guard instead of wasmtime's own host.
    linker.allow_shadowing(true);
    use wasmtime_wasi::p2::bindings::filesystem::{preopens, types};
    types::add_to_linker::<CallState, GuardedFs>(&mut linker, CallState::fs_view).map_err(err)?;
    preopens::add_to_linker::<CallState, GuardedFs>(&mut linker, CallState::fs_view)
        .map_err(err)?;
    // Sockets and name lookups are refused, and audited, by their capability.
    use wasmtime_wasi::p2::bindings::sockets::{
        ip_name_lookup, tcp_create_socket, udp_create_socket,
    };
    let sockets = CallState::sockets_view;
    tcp_create_socket::add_to_linker::<CallState, DeniedSockets>(&mut linker, sockets)
        .map_err(err)?;
    udp_create_socket::add_to_linker::<CallState, DeniedSockets>(&mut linker, sockets)
        .map_err(err)?;
    ip_name_lookup::add_to_linker::<CallState, DeniedSockets>(&mut linker, sockets).map_err(err)?;
    linker.allow_shadowing(false);
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(err)?;
    log::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |s| s).map_err(err)?;

    Ok(linker)
}
