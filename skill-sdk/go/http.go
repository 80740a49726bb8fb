package skill

// HTTP through wasi:http outgoing-handler: the host applies the skill's
// allow-list, address checks and secret rules to every request, so a
// refusal comes back as a Denied error (and the host's audit names it).

import (
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"unsafe"
)

// Request is one HTTP request.
type Request struct {
	// Method, e.g. "GET" (the default) or "POST".
	Method string
	// URL, http or https.
	URL string
	// Headers to send (names are sent in lower case). Content-Length is
	// always the body's own.
	Headers map[string]string
	// Body, sent as is (none when nil).
	Body []byte
	// MaxBody bounds the response body read; 0 means 16 MiB.
	MaxBody int
}

// Response is an HTTP response, read whole.
type Response struct {
	Status  int
	Headers [][2]string
	Body    []byte
}

// Header returns the first value of the named header (any case), or "".
func (r *Response) Header(name string) string {
	for _, h := range r.Headers {
		if strings.EqualFold(h[0], name) {
			return h[1]
		}
	}
	return ""
}

// chunk is the most blocking-write-and-flush accepts at once.
const chunk = 4096

var methods = map[string]uint32{
	"GET": 0, "HEAD": 1, "POST": 2, "PUT": 3, "DELETE": 4,
	"CONNECT": 5, "OPTIONS": 6, "TRACE": 7, "PATCH": 8,
}

// impArea is the return area for imports (8-aligned, larger than any
// result used here).
var impArea [8]uint64

func iret() uint32 { return uint32(uintptr(unsafe.Pointer(&impArea))) }

func strPtr(s string) (uint32, uint32) {
	return uint32(uintptr(unsafe.Pointer(unsafe.StringData(s)))), uint32(len(s))
}

func bytesPtr(b []byte) (uint32, uint32) {
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b)))), uint32(len(b))
}

// errorCodeDenied is wasi:http's HTTP-request-denied case of error-code.
const errorCodeDenied = 15

func codeError(u string, code uint8) error {
	if code == errorCodeDenied {
		return Denied("%s: refused by the host", u)
	}
	return Failed("%s: the request failed (wasi:http error-code %d)", u, code)
}

// Fetch sends one request and reads the whole response (at most MaxBody).
func Fetch(req Request) (*Response, error) {
	u, err := url.Parse(req.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, InvalidInput("%s: expected an http(s) URL", req.URL)
	}
	method := strings.ToUpper(req.Method)
	if method == "" {
		method = "GET"
	}
	tag, ok := methods[method]
	if !ok {
		return nil, InvalidInput("%s: unsupported HTTP method", req.Method)
	}
	max := req.MaxBody
	if max <= 0 {
		max = 16 << 20
	}
	headers := wasiFieldsNew()
	add := func(name, value string) error {
		np, nn := strPtr(name)
		vp, vn := strPtr(value)
		wasiFieldsAppend(headers, np, nn, vp, vn, iret())
		runtime.KeepAlive(name)
		runtime.KeepAlive(value)
		if get8(iret()) == 0 {
			return nil
		}
		if get8(iret()+1) == 1 {
			return Denied("header %s was refused by the host (it is reserved, e.g. for a secret)", name)
		}
		return InvalidInput("invalid header %s", name)
	}
	fail := func(e error) (*Response, error) {
		wasiFieldsDrop(headers)
		return nil, e
	}
	if err := add("user-agent", "chitin-skill"); err != nil {
		return fail(err)
	}
	for k, v := range req.Headers {
		if k = strings.ToLower(k); k == "content-length" {
			continue
		}
		if err := add(k, v); err != nil {
			return fail(err)
		}
	}
	if req.Body != nil {
		if err := add("content-length", strconv.Itoa(len(req.Body))); err != nil {
			return fail(err)
		}
	}
	request := wasiRequestNew(headers) // takes the headers
	invalid := func() (*Response, error) {
		wasiRequestDrop(request)
		return nil, InvalidInput("%s: not a valid request URL", req.URL)
	}
	if wasiRequestSetMethod(request, tag, 0, 0) != 0 {
		return invalid()
	}
	scheme := uint32(0)
	if u.Scheme == "https" {
		scheme = 1
	}
	if wasiRequestSetScheme(request, 1, scheme, 0, 0) != 0 {
		return invalid()
	}
	hp, hn := strPtr(u.Host)
	okAuthority := wasiRequestSetAuthority(request, 1, hp, hn) == 0
	path := u.RequestURI()
	pp, pn := strPtr(path)
	okPath := wasiRequestSetPath(request, 1, pp, pn) == 0
	runtime.KeepAlive(u)
	runtime.KeepAlive(path)
	if !okAuthority || !okPath {
		return invalid()
	}
	wasiRequestBody(request, iret())
	if get8(iret()) != 0 {
		wasiRequestDrop(request)
		return nil, Failed("%s: the request body is unavailable", req.URL)
	}
	body := get32(iret() + 4)
	wasiHandle(request, 0, 0, iret()) // takes the request
	if get8(iret()) != 0 {
		code := get8(iret() + 8)
		wasiOutBodyDrop(body)
		return nil, codeError(req.URL, code)
	}
	future := get32(iret() + 8)
	defer wasiFutureDrop(future)
	if err := sendBody(body, req.Body, req.URL); err != nil {
		return nil, err
	}
	ready := wasiFutureSubscribe(future)
	wasiPollableBlock(ready)
	wasiPollableDrop(ready)
	wasiFutureGet(future, iret())
	a := iret()
	switch {
	case get8(a) == 0:
		return nil, Failed("%s: no response after waiting for it", req.URL)
	case get8(a+8) != 0:
		return nil, Failed("%s: the response was already taken", req.URL)
	case get8(a+16) != 0:
		return nil, codeError(req.URL, get8(a+24))
	}
	response := get32(a + 24)
	defer wasiResponseDrop(response)
	resp := &Response{Status: int(wasiResponseStatus(response))}
	fields := wasiResponseHeaders(response)
	resp.Headers = entries(fields)
	wasiFieldsDrop(fields)
	resp.Body, err = readBody(response, max, req.URL)
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// sendBody writes data to the request's body and finishes it.
func sendBody(body uint32, data []byte, u string) error {
	wasiOutBodyWrite(body, iret())
	if get8(iret()) != 0 {
		wasiOutBodyDrop(body)
		return Failed("%s: the request body cannot be written", u)
	}
	stream := get32(iret() + 4)
	for i := 0; i < len(data); i += chunk {
		part := data[i:min(i+chunk, len(data))]
		p, n := bytesPtr(part)
		wasiBlockingWriteAndFlush(stream, p, n, iret())
		runtime.KeepAlive(part)
		if get8(iret()) != 0 {
			dropStreamError(iret() + 4)
			wasiOutputStreamDrop(stream)
			wasiOutBodyDrop(body)
			return Failed("%s: sending the body failed", u)
		}
	}
	// The stream is a child of the body: dropped before finish.
	wasiOutputStreamDrop(stream)
	wasiOutBodyFinish(body, 0, 0, iret())
	if get8(iret()) != 0 {
		return codeError(u, get8(iret()+8))
	}
	return nil
}

// dropStreamError drops the error resource of a last-operation-failed
// stream-error at p (tag, then the handle at 4).
func dropStreamError(p uint32) {
	if get8(p) == 0 {
		wasiErrorDrop(get32(p + 4))
	}
}

// entries copies out a fields resource's (name, value) pairs.
func entries(fields uint32) [][2]string {
	wasiFieldsEntries(fields, iret())
	list, n := get32(iret()), get32(iret()+4)
	out := make([][2]string, 0, n)
	for i := uint32(0); i < n; i++ {
		e := list + 16*i
		name := string(take(get32(e), get32(e+4)))
		value := string(take(get32(e+8), get32(e+12)))
		out = append(out, [2]string{name, value})
	}
	release(list)
	return out
}

// readBody reads the response's body, at most max bytes.
func readBody(response uint32, max int, u string) ([]byte, error) {
	wasiResponseConsume(response, iret())
	if get8(iret()) != 0 {
		return nil, Failed("%s: the response body is unavailable", u)
	}
	body := get32(iret() + 4)
	defer wasiInBodyDrop(body)
	wasiInBodyStream(body, iret())
	if get8(iret()) != 0 {
		return nil, Failed("%s: the response body cannot be read", u)
	}
	stream := get32(iret() + 4)
	defer wasiInputStreamDrop(stream)
	var out []byte
	// A blocking read returns bytes or an error; empty reads are bounded
	// too, so a misbehaving stream cannot spin forever.
	for empty := 0; empty < 1000; {
		wasiBlockingRead(stream, 65536, iret())
		if get8(iret()) != 0 {
			if get8(iret()+4) == 1 { // closed: the end of the body
				return out, nil
			}
			dropStreamError(iret() + 4)
			return nil, Failed("%s: reading the body failed", u)
		}
		n := get32(iret() + 8)
		if n == 0 {
			empty++
		}
		out = append(out, take(get32(iret()+4), n)...)
		if len(out) > max {
			return nil, Failed("%s: response over %d bytes", u, max)
		}
	}
	return nil, Failed("%s: the body stream returned nothing, repeatedly", u)
}
