//go:build !(js && wasm)

package main

import "fmt"

// The board runs in a browser (GOOS=js GOARCH=wasm); natively this package
// only builds so its logic can be tested.
func main() { fmt.Println("the board runs in the browser: make board, then open /board/") }
