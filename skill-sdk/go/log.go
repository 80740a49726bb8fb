package skill

import (
	"runtime"
	"unsafe"
)

// Level is a log message's severity.
type Level uint8

// The contract's log levels.
const (
	LevelTrace Level = iota
	LevelDebug
	LevelInfo
	LevelWarn
	LevelError
)

//go:wasmimport chitin:skill/log@0.1.0 log
func hostLog(level, ptr, n uint32)

// Log records message in the host's log for this call (bounded by the
// host's per-call budget).
func Log(level Level, message string) {
	hostLog(uint32(level), uint32(uintptr(unsafe.Pointer(unsafe.StringData(message)))), uint32(len(message)))
	runtime.KeepAlive(message)
}
