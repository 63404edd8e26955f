// Command goruntime is the Go runtime and fmt and nothing else: the part
// of any Go js/wasm program's bytes that is Go's own. wasmsize builds it
// beside the worker with the same flags (docs/bundle-size.md).
package main

import "fmt"

func main() { fmt.Println("hearth") }
