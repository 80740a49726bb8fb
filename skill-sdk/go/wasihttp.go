package skill

// wasi:http 0.2.12 and wasi:io, lowered by hand: resources are uint32
// handles, strings and lists (ptr, len) pairs, and any result wider than
// one value comes back through a return area (`ret`) the caller passes.
// Layouts (error-code is 32 bytes, 8-aligned: its payload starts at 8):
//   result<own<T>>                       tag @0, handle @4
//   result<own<T>, error-code>           tag @0, handle or error-code @8
//   option<result<result<own<T>, error-code>>>  tags @0, @8, @16; value @24
//   result<list<u8>, stream-error>       tag @0, list or error @4

//go:wasmimport wasi:http/types@0.2.12 [constructor]fields
func wasiFieldsNew() uint32

//go:wasmimport wasi:http/types@0.2.12 [method]fields.append
func wasiFieldsAppend(self, namePtr, nameLen, valuePtr, valueLen, ret uint32)

//go:wasmimport wasi:http/types@0.2.12 [method]fields.entries
func wasiFieldsEntries(self, ret uint32)

//go:wasmimport wasi:http/types@0.2.12 [resource-drop]fields
func wasiFieldsDrop(self uint32)

//go:wasmimport wasi:http/types@0.2.12 [constructor]outgoing-request
func wasiRequestNew(headers uint32) uint32

//go:wasmimport wasi:http/types@0.2.12 [method]outgoing-request.set-method
func wasiRequestSetMethod(self, tag, ptr, n uint32) uint32

//go:wasmimport wasi:http/types@0.2.12 [method]outgoing-request.set-scheme
func wasiRequestSetScheme(self, some, tag, ptr, n uint32) uint32

//go:wasmimport wasi:http/types@0.2.12 [method]outgoing-request.set-authority
func wasiRequestSetAuthority(self, some, ptr, n uint32) uint32

//go:wasmimport wasi:http/types@0.2.12 [method]outgoing-request.set-path-with-query
func wasiRequestSetPath(self, some, ptr, n uint32) uint32

//go:wasmimport wasi:http/types@0.2.12 [method]outgoing-request.body
func wasiRequestBody(self, ret uint32)

//go:wasmimport wasi:http/types@0.2.12 [resource-drop]outgoing-request
func wasiRequestDrop(self uint32)

//go:wasmimport wasi:http/types@0.2.12 [method]outgoing-body.write
func wasiOutBodyWrite(self, ret uint32)

//go:wasmimport wasi:http/types@0.2.12 [static]outgoing-body.finish
func wasiOutBodyFinish(body, some, trailers, ret uint32)

//go:wasmimport wasi:http/types@0.2.12 [resource-drop]outgoing-body
func wasiOutBodyDrop(self uint32)

//go:wasmimport wasi:http/types@0.2.12 [method]future-incoming-response.subscribe
func wasiFutureSubscribe(self uint32) uint32

//go:wasmimport wasi:http/types@0.2.12 [method]future-incoming-response.get
func wasiFutureGet(self, ret uint32)

//go:wasmimport wasi:http/types@0.2.12 [resource-drop]future-incoming-response
func wasiFutureDrop(self uint32)

//go:wasmimport wasi:http/types@0.2.12 [method]incoming-response.status
func wasiResponseStatus(self uint32) uint32

//go:wasmimport wasi:http/types@0.2.12 [method]incoming-response.headers
func wasiResponseHeaders(self uint32) uint32

//go:wasmimport wasi:http/types@0.2.12 [method]incoming-response.consume
func wasiResponseConsume(self, ret uint32)

//go:wasmimport wasi:http/types@0.2.12 [resource-drop]incoming-response
func wasiResponseDrop(self uint32)

//go:wasmimport wasi:http/types@0.2.12 [method]incoming-body.stream
func wasiInBodyStream(self, ret uint32)

//go:wasmimport wasi:http/types@0.2.12 [resource-drop]incoming-body
func wasiInBodyDrop(self uint32)

//go:wasmimport wasi:http/outgoing-handler@0.2.12 handle
func wasiHandle(request, some, options, ret uint32)

//go:wasmimport wasi:io/poll@0.2.12 [method]pollable.block
func wasiPollableBlock(self uint32)

//go:wasmimport wasi:io/poll@0.2.12 [resource-drop]pollable
func wasiPollableDrop(self uint32)

//go:wasmimport wasi:io/streams@0.2.12 [method]input-stream.blocking-read
func wasiBlockingRead(self uint32, n uint64, ret uint32)

//go:wasmimport wasi:io/streams@0.2.12 [resource-drop]input-stream
func wasiInputStreamDrop(self uint32)

//go:wasmimport wasi:io/streams@0.2.12 [method]output-stream.blocking-write-and-flush
func wasiBlockingWriteAndFlush(self, ptr, n, ret uint32)

//go:wasmimport wasi:io/streams@0.2.12 [resource-drop]output-stream
func wasiOutputStreamDrop(self uint32)

//go:wasmimport wasi:io/error@0.2.12 [resource-drop]error
func wasiErrorDrop(self uint32)
