package skill

// The canonical ABI by hand: mainline Go has no wit-bindgen, so the
// exports of chitin:skill/tools@0.1.0 and cabi_realloc are written here
// with //go:wasmexport (pointers and lengths as uint32, results through a
// return area in linear memory, as wit-component expects).

import "unsafe"

// pinned keeps memory handed to the host (or allocated by it through
// cabi_realloc) reachable until it is released: Go's collector does not
// move objects, so the address stays valid while the slice is held.
var pinned = map[uint32][]byte{}

// retained is what the current export's result points into; the host's
// cabi_post_* call releases it.
var retained []uint32

// retArea is the exports' return area (8-aligned).
var retArea [4]uint64

func alloc(size, align uint32) uint32 {
	if align == 0 {
		align = 1
	}
	if size == 0 {
		return align // a non-null, aligned, empty allocation
	}
	buf := make([]byte, size+align)
	p := uint32(uintptr(unsafe.Pointer(unsafe.SliceData(buf))))
	p = (p + align - 1) &^ (align - 1)
	pinned[p] = buf
	return p
}

func release(p uint32) { delete(pinned, p) }

// mem is n bytes of linear memory at p (no copy).
func mem(p, n uint32) []byte {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(uintptr(p))), n)
}

// take copies the host-allocated bytes at p and releases them.
func take(p, n uint32) []byte {
	out := append([]byte(nil), mem(p, n)...)
	release(p)
	return out
}

func put32(p, v uint32) { *(*uint32)(unsafe.Pointer(uintptr(p))) = v }

func get32(p uint32) uint32 { return *(*uint32)(unsafe.Pointer(uintptr(p))) }

func get8(p uint32) uint8 { return *(*uint8)(unsafe.Pointer(uintptr(p))) }

func put8(p uint32, v uint8) { *(*uint8)(unsafe.Pointer(uintptr(p))) = v }

// keep copies b into memory that stays until the export's post-return.
func keep(b []byte, align uint32) uint32 {
	p := alloc(uint32(len(b)), align)
	copy(mem(p, uint32(len(b))), b)
	retained = append(retained, p)
	return p
}

// putString writes a (ptr, len) string pair at p, the text kept until
// post-return.
func putString(p uint32, s string) {
	put32(p, keep([]byte(s), 1))
	put32(p+4, uint32(len(s)))
}

func area() uint32 { return uint32(uintptr(unsafe.Pointer(&retArea))) }

func releaseRetained() {
	for _, p := range retained {
		release(p)
	}
	retained = retained[:0]
}

//go:wasmexport cabi_realloc
func cabiRealloc(old, oldSize, align, newSize uint32) uint32 {
	if old != 0 && newSize <= oldSize {
		return old
	}
	p := alloc(newSize, align)
	if old != 0 {
		copy(mem(p, newSize), mem(old, oldSize))
		release(old)
	}
	return p
}

// list-tools: func() -> list<tool>. A tool is 32 bytes (four string or
// list pairs); an effect is 12 (a tag, then a string payload at 4).
//
//go:wasmexport chitin:skill/tools@0.1.0#list-tools
func exportListTools() uint32 {
	if arenaAddr == 0 {
		panic("skill: the adapter arena is missing")
	}
	records := make([]byte, 32*len(tools))
	base := keep(records, 4)
	for i, t := range tools {
		r := base + uint32(32*i)
		putString(r, t.Name)
		putString(r+8, t.Description)
		putString(r+16, t.Schema)
		effects := keep(make([]byte, 12*len(t.Effects)), 4)
		for j, e := range t.Effects {
			q := effects + uint32(12*j)
			put8(q, e.kind)
			if e.kind == 3 {
				putString(q+4, e.secret)
			}
		}
		put32(r+24, effects)
		put32(r+28, uint32(len(t.Effects)))
	}
	ret := area()
	put32(ret, base)
	put32(ret+4, uint32(len(tools)))
	return ret
}

//go:wasmexport cabi_post_chitin:skill/tools@0.1.0#list-tools
func postListTools(uint32) { releaseRetained() }

// call: func(name: string, input: string) -> result<string, tool-error>.
// The result is a tag at 0 and a payload at 4: the output string, or the
// tool-error (its tag at 4, its string at 8).
//
//go:wasmexport chitin:skill/tools@0.1.0#call
func exportCall(namePtr, nameLen, inputPtr, inputLen uint32) uint32 {
	name := string(take(namePtr, nameLen))
	input := take(inputPtr, inputLen)
	out, err := run(name, input)
	ret := area()
	if err == nil {
		put8(ret, 0)
		putString(ret+4, out)
	} else {
		put8(ret, 1)
		put8(ret+4, uint8(err.Kind))
		putString(ret+8, err.Message)
	}
	return ret
}

//go:wasmexport cabi_post_chitin:skill/tools@0.1.0#call
func postCall(uint32) { releaseRetained() }
