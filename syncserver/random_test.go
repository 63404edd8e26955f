package syncserver_test

import (
	"math/rand/v2"
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
	randomEdits(t, rng, devs, 300)
	converge(t, h, devs, "the server")
}
