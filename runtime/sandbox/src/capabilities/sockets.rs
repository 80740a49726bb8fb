//! Sockets: never granted. A skill reaches the network only through
//! `wasi:http`, where every request is checked (see [`super::net`]); raw TCP
//! and UDP sockets and DNS lookups are refused, and every attempt is an
//! audit event, so a skill that tries is seen trying.
//!
//! The WASI linker still offers `wasi:sockets` (Python and JavaScript
//! components import it); this module answers its entry points (creating a
//! socket, resolving a name) in place of wasmtime's own.

use super::{CallParts, Factor, SetupError};
use crate::audit::{Audit, Capability};
use wasmtime::component::{HasData, Resource};
use wasmtime_wasi::p2::bindings::sockets::ip_name_lookup::{
    self, HostResolveAddressStream, ResolveAddressStream,
};
use wasmtime_wasi::p2::bindings::sockets::network::{
    self, ErrorCode, IpAddress, IpAddressFamily, Network,
};
use wasmtime_wasi::p2::bindings::sockets::{tcp_create_socket, udp_create_socket};
use wasmtime_wasi::p2::{DynPollable, SocketError, SocketResult, TcpSocket, UdpSocket};
use wasmtime_wasi::sockets::WasiSocketsCtxView;

/// The sockets' part of every call: wasmtime's own socket checks closed
/// too (the linked entry points below refuse first).
pub struct SocketsPlan;

impl Factor for SocketsPlan {
    fn install(&self, call: &mut CallParts) -> Result<(), SetupError> {
        call.wasi
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }));
        Ok(())
    }
}

/// [`HasData`] marker linking the refusals into the linker.
pub struct DeniedSockets;

impl HasData for DeniedSockets {
    type Data<'a> = SocketsView<'a>;
}

/// The call's audit trail, with wasmtime's view for the stream methods
/// (which no guest can reach, since no lookup ever succeeds).
pub struct SocketsView<'a> {
    /// Where attempts are recorded.
    pub audit: Audit,
    /// wasmtime-wasi's sockets view.
    pub inner: WasiSocketsCtxView<'a>,
}

impl SocketsView<'_> {
    fn refuse(&self, what: String) -> ErrorCode {
        self.audit.deny(
            Capability::Socket,
            what,
            "skills get no sockets: network access is HTTP through wasi:http, checked against the grant",
            Some("use wasi:http (an HTTP client) and grant the host with --allow-host".into()),
        );
        ErrorCode::AccessDenied
    }
}

fn family(f: IpAddressFamily) -> &'static str {
    match f {
        IpAddressFamily::Ipv4 => "IPv4",
        IpAddressFamily::Ipv6 => "IPv6",
    }
}

impl network::Host for SocketsView<'_> {
    fn convert_error_code(&mut self, error: SocketError) -> wasmtime::Result<ErrorCode> {
        network::Host::convert_error_code(&mut self.inner, error)
    }

    fn network_error_code(
        &mut self,
        err: Resource<wasmtime::Error>,
    ) -> wasmtime::Result<Option<ErrorCode>> {
        network::Host::network_error_code(&mut self.inner, err)
    }
}

impl network::HostNetwork for SocketsView<'_> {
    fn drop(&mut self, this: Resource<Network>) -> wasmtime::Result<()> {
        network::HostNetwork::drop(&mut self.inner, this)
    }
}

impl tcp_create_socket::Host for SocketsView<'_> {
    fn create_tcp_socket(&mut self, af: IpAddressFamily) -> SocketResult<Resource<TcpSocket>> {
        Err(self
            .refuse(format!("create a TCP socket ({})", family(af)))
            .into())
    }
}

impl udp_create_socket::Host for SocketsView<'_> {
    async fn create_udp_socket(
        &mut self,
        af: IpAddressFamily,
    ) -> SocketResult<Resource<UdpSocket>> {
        Err(self
            .refuse(format!("create a UDP socket ({})", family(af)))
            .into())
    }
}

impl ip_name_lookup::Host for SocketsView<'_> {
    fn resolve_addresses(
        &mut self,
        _network: Resource<Network>,
        name: String,
    ) -> SocketResult<Resource<ResolveAddressStream>> {
        let name = crate::text::cap(&name, 256).into_owned();
        Err(self.refuse(format!("look up {name}")).into())
    }
}

impl HostResolveAddressStream for SocketsView<'_> {
    fn resolve_next_address(
        &mut self,
        resource: Resource<ResolveAddressStream>,
    ) -> SocketResult<Option<IpAddress>> {
        HostResolveAddressStream::resolve_next_address(&mut self.inner, resource)
    }

    fn subscribe(
        &mut self,
        resource: Resource<ResolveAddressStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        HostResolveAddressStream::subscribe(&mut self.inner, resource)
    }

    fn drop(&mut self, resource: Resource<ResolveAddressStream>) -> wasmtime::Result<()> {
        HostResolveAddressStream::drop(&mut self.inner, resource)
    }
}
