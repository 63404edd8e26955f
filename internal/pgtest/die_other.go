//go:build !linux

package pgtest

import "syscall"

// dieWithParent: only Linux can tie the server's life to ours.
func dieWithParent(a *syscall.SysProcAttr) {}
