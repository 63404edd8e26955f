//go:build js && wasm

// Command board is the demo task board: a vugu app on the page's main
// thread that keeps all its data in a Hearth database, reached through
// the Go client and the Hearth worker.
package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/hack-pad/safejs"
	"github.com/hearthdb/hearth/client"
	"github.com/vugu/vugu"
	"github.com/vugu/vugu/domrender"
)

func main() {
	renderer, err := domrender.New("#board")
	if err != nil {
		fmt.Println("board: no mount point:", err)
		return
	}
	defer renderer.Release()
	buildEnv, err := vugu.NewBuildEnv(renderer.EventEnv())
	if err != nil {
		fmt.Println("board:", err)
		return
	}
	me := signedInUser()
	if me == "" {
		me = "u-01"
	}
	env := &coalescingEnv{EventEnv: renderer.EventEnv()}
	root := &Root{env: env, Status: OpeningStatus, Me: me, View: "board",
		writes: make(chan func(context.Context) error, 64), patchMove: patchCardMove, patchTexts: patchTexts}
	exposeAsync("hearthSyncStatus", root.syncStatusJS)
	exposeInput(root)

	transport, err := workerTransport()
	if err != nil {
		root.Status = "Could not start the Hearth worker: " + err.Error()
	} else {
		// The board syncs with the server that served it (same origin,
		// /sync), which seeds the demo data. ?sync=0 runs it local-only:
		// then the board seeds an empty database itself (?seed=N tasks).
		opts := StartOptions{SyncURL: syncURL(pageLocation())}
		if queryParam("sync") == "0" {
			seedTasks, _ := strconv.Atoi(queryParam("seed"))
			opts = StartOptions{LocalSeed: true, SeedTasks: seedTasks}
		}
		go root.PaintCached(context.Background())
		go root.Start(context.Background(), client.New(transport), opts)
	}

	for ok := true; ok; ok = renderer.EventWait() {
		start := time.Now()
		env.Building()
		built := buildEnv.RunBuild(root)
		for _, n := range built.Out.Out {
			textContentNodes(n)
		}
		if err := renderer.Render(built); err != nil {
			fmt.Println("board: render:", err)
		}
		recordRender(time.Since(start))
		root.AfterRender()
	}
}

// workerTransport adopts the Hearth worker boot.js started while this
// bundle loaded, or starts one.
func workerTransport() (*client.WorkerTransport, error) {
	if w, err := safejs.Global().Get("hearthBoardWorker"); err == nil {
		if ok, _ := w.Truthy(); ok {
			return client.AdoptWorker(w)
		}
	}
	return client.NewWorkerTransport("/board/worker.js")
}
