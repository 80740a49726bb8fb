module {name}

go 1.24

// The SDK comes with chitin: `chitin skill build` points this at its own
// copy (a go.work in the build's scratch directory), so builds need no
// network.
require chitin.dev/skill v0.0.0
