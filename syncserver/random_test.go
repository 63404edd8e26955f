package syncserver_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncworker/client"
)

// TestRandomEditsOverRealSocketsConverge drives three devices with random
// writes while their networks drop and come back, then checks that every
// device and the server hold the same tasks.
func TestRandomEditsOverRealSocketsConverge(t *testing.T) {
	forEachStore(t, testRandomEditsOverRealSocketsConverge)
}

func testRandomEditsOverRealSocketsConverge(t *testing.T, db *backend) {
	h := db.server(t, syncserver.Config{})
	rng := rand.New(rand.NewPCG(42, 7))
	devs := []*device{
		newDevice(t, "a", h, nil, client.Config{PushBatch: 7}).start(),
		newDevice(t, "b", h, nil, client.Config{PushBatch: 7}).start(),
		newDevice(t, "c", h, nil, client.Config{PushBatch: 7}).start(),
	}
	for step := 0; step < 300; step++ {
		d := devs[rng.IntN(len(devs))]
		id := fmt.Sprint("k", rng.IntN(12))
		var err error
		switch rng.IntN(8) {
		case 0, 1:
			err = d.exec(`INSERT INTO tasks(id, title, rank) VALUES (?, ?, ?)`, id, fmt.Sprint("t", step), float64(step)/7)
		case 2, 3, 4:
			err = d.exec(`UPDATE tasks SET title = ?, done = ? WHERE id = ?`, fmt.Sprint("u", step), int64(step%2), id)
		case 5:
			err = d.exec(`UPDATE tasks SET assignee = ? WHERE id = ?`, fmt.Sprint("p", rng.IntN(3)), id)
		case 6:
			err = d.exec(`DELETE FROM tasks WHERE id = ?`, id)
		case 7:
			down := rng.IntN(2) == 0
			d.net.setDown(down)
			if !down {
				d.client.Online(true)
			}
		}
		if err != nil && !strings.Contains(err.Error(), "UNIQUE") && !strings.Contains(err.Error(), "resurrection") {
			t.Fatal(err)
		}
	}
	for _, d := range devs {
		d.net.setDown(false)
		d.client.Online(true)
	}
	for _, d := range devs {
		d.synced(h)
	}
	waitFor(t, "every device to match the server", func() bool {
		want := h.serverTasks()
		for _, d := range devs {
			if d.tasks() != want {
				return false
			}
		}
		return true
	})
}
