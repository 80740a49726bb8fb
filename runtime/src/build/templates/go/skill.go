// A Chitin skill in Go (mainline Go, GOOS=wasip1). Tools are plain
// functions registered in init; `chitin skill build` compiles a reactor
// module and makes it a component.
package main

import (
	"encoding/json"

	"chitin.dev/skill"
)

func init() {
	skill.Register(skill.Tool{
		Name:        "greet",
		Description: "Say hello to someone.",
		Schema:      `{"type":"object","required":["name"],"properties":{"name":{"type":"string"}}}`,
		Handler:     greet,
	})
}

func greet(input json.RawMessage) (string, error) {
	var args struct {
		Name *string `json:"name"`
	}
	if err := skill.Decode(input, &args); err != nil {
		return "", err
	}
	if args.Name == nil {
		return "", skill.InvalidInput("`name` must be a string")
	}
	return "hello, " + *args.Name, nil
}

// main is not run: the host calls the exported tools.
func main() {}
