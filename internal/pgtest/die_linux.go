package pgtest

import "syscall"

// dieWithParent has the kernel stop the server (SIGQUIT: immediate
// shutdown) if the test binary dies without cleaning up.
func dieWithParent(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGQUIT }
