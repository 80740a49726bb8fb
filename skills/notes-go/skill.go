// A first-party Chitin skill in mainline Go: notes in the granted
// directory through plain os calls (Go's wasip1 port uses preview1 file
// calls, which the adapter maps to the host's preopened directory; nothing
// else exists for the skill), and web requests through skill.Fetch
// (wasi:http), so the host's allow-list, address checks and secret rules
// apply exactly as they do to Rust skills.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"chitin.dev/skill"
)

const root = "/workspace"

func init() {
	skill.Register(skill.Tool{
		Name:        "read",
		Description: "Read a note (a UTF-8 file) from the notes directory.",
		Schema:      `{"type":"object","required":["path"],"properties":{"path":{"type":"string"}}}`,
		Effects:     []skill.Effect{skill.ReadsFiles},
		Handler:     read,
	})
	skill.Register(skill.Tool{
		Name:        "write",
		Description: "Write a note to the notes directory.",
		Schema:      `{"type":"object","required":["path","content"],"properties":{"path":{"type":"string"},"content":{"type":"string"}}}`,
		Effects:     []skill.Effect{skill.WritesFiles},
		Handler:     write,
	})
	skill.Register(skill.Tool{
		Name:        "fetch",
		Description: "Send an HTTP request (only to hosts the user granted); returns the status and the body.",
		Schema:      `{"type":"object","required":["url"],"properties":{"url":{"type":"string"},"method":{"type":"string","default":"GET"},"headers":{"type":"object"},"body":{"type":"string"}}}`,
		Effects:     []skill.Effect{skill.Network},
		Handler:     fetch,
	})
	skill.Register(skill.Tool{
		Name:        "spin",
		Description: "Loop forever (used to test the CPU limit).",
		Handler:     spin,
	})
}

// notePath joins a note's path to the root without cleaning `..` away:
// the host, not the skill, decides what lies outside the grant.
func notePath(p string) string { return root + "/" + p }

func read(input json.RawMessage) (string, error) {
	var args struct {
		Path string `json:"path"`
	}
	if err := skill.Decode(input, &args); err != nil {
		return "", err
	}
	data, err := os.ReadFile(notePath(args.Path))
	if err != nil {
		return "", err
	}
	return string(data), nil
}

func write(input json.RawMessage) (string, error) {
	var args struct {
		Path    string `json:"path"`
		Content string `json:"content"`
	}
	if err := skill.Decode(input, &args); err != nil {
		return "", err
	}
	if err := os.WriteFile(notePath(args.Path), []byte(args.Content), 0o644); err != nil {
		return "", err
	}
	skill.Log(skill.LevelInfo, fmt.Sprintf("wrote %d bytes to %s", len(args.Content), args.Path))
	return fmt.Sprintf(`{"written":%d}`, len(args.Content)), nil
}

func fetch(input json.RawMessage) (string, error) {
	var args struct {
		URL     string            `json:"url"`
		Method  string            `json:"method"`
		Headers map[string]string `json:"headers"`
		Body    *string           `json:"body"`
	}
	if err := skill.Decode(input, &args); err != nil {
		return "", err
	}
	req := skill.Request{Method: args.Method, URL: args.URL, Headers: args.Headers}
	if args.Body != nil {
		req.Body = []byte(*args.Body)
	}
	resp, err := skill.Fetch(req)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d %s", resp.Status, resp.Body), nil
}

// spins is package state so the loop is not optimized away.
var spins uint64

func spin(json.RawMessage) (string, error) {
	for {
		spins++
	}
}

// main is not run: the host calls the exported tools.
func main() {}
