module notes-go

go 1.24

// Supplied by `chitin skill build` (skill-sdk/go, built into chitin).
require chitin.dev/skill v0.0.0
