// Package skill writes Chitin skills in mainline Go (GOOS=wasip1,
// -buildmode=c-shared; `chitin skill build` makes the component).
//
// Tools are plain Go functions registered in an init function:
//
//	func init() {
//		skill.Register(skill.Tool{
//			Name:        "greet",
//			Description: "Say hello to someone.",
//			Schema:      `{"type":"object","required":["name"],"properties":{"name":{"type":"string"}}}`,
//			Handler:     greet,
//		})
//	}
//
// Files are plain `os` calls on the guest paths the manifest asks for
// (e.g. /workspace); logging goes to the host through Log; HTTP goes
// through Fetch (wasi:http), so the host's allow-list and secret rules
// apply. The package needs no third-party modules.
package skill

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
)

// Effect is what a tool may do when called (shown to the user; grants,
// not effects, are what the host enforces).
type Effect struct {
	kind   uint8
	secret string
}

// The effects a tool can declare.
var (
	ReadsFiles  = Effect{kind: 0}
	WritesFiles = Effect{kind: 1}
	Network     = Effect{kind: 2}
)

// UsesSecret declares that the host injects the named secret into the
// tool's requests.
func UsesSecret(name string) Effect { return Effect{kind: 3, secret: name} }

// Handler runs a tool on its JSON input and returns its output.
type Handler func(input json.RawMessage) (string, error)

// Tool is one tool of the skill.
type Tool struct {
	// Name, unique within the skill: lowercase letters, digits, `-`, `_`.
	Name string
	// Description, written for the model.
	Description string
	// Schema is the JSON Schema of the input object; empty means
	// `{"type":"object"}`.
	Schema string
	// Effects the tool may have.
	Effects []Effect
	// Handler runs the tool.
	Handler Handler
}

var tools []Tool

// Register adds a tool; call it from an init function (the host lists
// tools without running a call). A second tool of the same name panics.
func Register(t Tool) {
	for _, have := range tools {
		if have.Name == t.Name {
			panic("skill: tool registered twice: " + t.Name)
		}
	}
	if t.Schema == "" {
		t.Schema = `{"type":"object"}`
	}
	tools = append(tools, t)
}

// ErrorKind says why a tool call failed.
type ErrorKind uint8

// The kinds of tool errors (the contract's tool-error cases).
const (
	KindUnknownTool ErrorKind = iota
	KindInvalidInput
	KindDenied
	KindFailed
)

// Error is a tool error of a given kind; handlers return one through
// InvalidInput, Denied or Failed. Any other error counts as Failed.
type Error struct {
	Kind    ErrorKind
	Message string
}

func (e *Error) Error() string { return e.Message }

// InvalidInput says the input did not match the tool's schema.
func InvalidInput(format string, args ...any) error {
	return &Error{KindInvalidInput, fmt.Sprintf(format, args...)}
}

// Denied says the host refused an operation the tool needed.
func Denied(format string, args ...any) error {
	return &Error{KindDenied, fmt.Sprintf(format, args...)}
}

// Failed says the tool ran but could not do its work.
func Failed(format string, args ...any) error {
	return &Error{KindFailed, fmt.Sprintf(format, args...)}
}

// Decode unmarshals a tool's input into v, or returns an InvalidInput error.
func Decode(input json.RawMessage, v any) error {
	if err := json.Unmarshal(input, v); err != nil {
		return InvalidInput("input: %v", err)
	}
	return nil
}

// classify turns a handler's error into a tool error: a permission error
// from the file system (a read-only mount, a path outside the grant) is
// a denial.
func classify(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, fs.ErrPermission) {
		return &Error{KindDenied, err.Error()}
	}
	return &Error{KindFailed, err.Error()}
}

// run calls the tool `name`, turning panics into failures so one bad call
// cannot take the skill down.
func run(name string, input []byte) (out string, err *Error) {
	for _, t := range tools {
		if t.Name != name {
			continue
		}
		defer func() {
			if p := recover(); p != nil {
				out, err = "", &Error{KindFailed, fmt.Sprintf("panic in tool %s: %v", name, p)}
			}
		}()
		if !json.Valid(input) {
			return "", &Error{KindInvalidInput, "the input is not JSON"}
		}
		text, e := t.Handler(json.RawMessage(input))
		if e != nil {
			return "", classify(e)
		}
		return text, nil
	}
	return "", &Error{KindUnknownTool, name}
}
