package skill

// The WASI preview1 adapter allocates its state and stack before the Go
// runtime is initialized (Go's own startup makes the first preview1
// calls), when no Go function can run. So `chitin skill build` adds a
// `cabi_realloc_adapter` to the module, a small bump allocator written in
// plain wasm over this array, which it finds by the marker at its start.
// Go never touches the array otherwise.

import "unsafe"

// arenaMarker must match ARENA_MARKER in chitin's runtime/src/build/goabi.rs.
var adapterArena = [256 << 10]byte{
	0xc4, 'c', 'h', 'i', 't', 'i', 'n', '-', 'a', 'd', 'a', 'p', 't', 'e', 'r', 0x9e,
}

// arenaAddr keeps the array linked in.
var arenaAddr = uintptr(unsafe.Pointer(&adapterArena))
