// Command pgserve runs a private PostgreSQL server for the browser tests,
// which cannot link internal/pgtest: it starts one, creates a fresh
// database, prints its URL alone on a line, and stops the server (removing
// its files) when stdin closes or on SIGINT/SIGTERM. A test harness that
// dies closes the pipe, so no server outlives its test.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hearthdb/hearth/internal/pgtest"
)

func main() {
	srv, err := pgtest.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgserve:", err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	url, err := srv.CreateDatabase(ctx)
	cancel()
	if err != nil {
		srv.Stop()
		fmt.Fprintln(os.Stderr, "pgserve:", err)
		os.Exit(1)
	}
	fmt.Println(url)

	stdinClosed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	select {
	case <-stdinClosed:
	case <-sig:
	}
	srv.Stop()
}
