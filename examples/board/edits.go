package main

import (
	"context"
	"slices"
	"time"
)

// The board shows its own writes at once (no spinner), then lets the live
// query take over. A tasks result can be older than the view: the write
// queue may hold newer writes, or the result of an earlier write arrives
// after a later move was drawn. So each local change is kept as an edit
// and laid over every result until a result shows it; a keypress then
// never acts on a card's old place.

// localEdit is one task as this board last wrote it.
type localEdit struct {
	seq  int
	id   string
	task *Task     // nil: gone from the view (archived or deleted)
	done time.Time // zero while the write is queued or in flight
}

// editExpiry bounds how long a written edit outlives its write when no
// result ever matches it (another device changed the same task at once).
const editExpiry = time.Second

// writeTasks queues fn, a write of tasks ids, after the caller changed
// them in c.Tasks; the changed tasks are kept as edits until the live
// query shows them.
func (c *Root) writeTasks(ids []string, fn func(context.Context) error) {
	c.editSeq++
	seq := c.editSeq
	for _, id := range ids {
		e := localEdit{seq: seq, id: id}
		if i := slices.IndexFunc(c.Tasks, func(t Task) bool { return t.ID == id }); i >= 0 {
			t := c.Tasks[i]
			e.task = &t
		}
		c.edits = append(c.edits, e)
	}
	c.write(func(ctx context.Context) error {
		err := fn(ctx)
		c.postChange(func() bool {
			for i := range c.edits {
				if c.edits[i].seq == seq {
					c.edits[i].done = time.Now()
				}
			}
			if err != nil {
				// Failed: show the database's state again.
				c.edits = slices.DeleteFunc(c.edits, func(e localEdit) bool { return e.seq == seq })
				c.Tasks = c.rebase(c.baseTasks, time.Now())
			}
			return err != nil // a write that worked changes nothing shown
		})
		return err
	})
}

// rebase lays the edits still pending over a live query result. An edit
// whose write is done goes once the result shows it (or after
// editExpiry).
func (c *Root) rebase(base []Task, now time.Time) []Task {
	out := slices.Clone(base)
	// A result that shows a task's newest written edit shows every older
	// edit of that task too (the writes run in order): those go with it.
	// Kept, an older one would be laid over the result and put the task
	// back where an earlier move had it (a card moved twice quickly showed
	// in its middle column until editExpiry).
	shown := map[string]int{}
	for _, e := range c.edits {
		if !e.done.IsZero() && reflects(base, e) {
			shown[e.id] = max(shown[e.id], e.seq)
		}
	}
	kept := c.edits[:0]
	for _, e := range c.edits {
		if upTo, ok := shown[e.id]; ok && e.seq <= upTo {
			continue
		}
		if !e.done.IsZero() && now.Sub(e.done) > editExpiry {
			continue
		}
		kept = append(kept, e)
		i := slices.IndexFunc(out, func(t Task) bool { return t.ID == e.id })
		switch {
		case e.task == nil && i >= 0:
			out = slices.Delete(out, i, i+1)
		case e.task != nil && i >= 0:
			out[i] = *e.task
		case e.task != nil:
			out = append(out, *e.task)
		}
	}
	c.edits = kept
	// A written edit that this result contradicts (another device won the
	// merge) must not outlive editExpiry just because no newer result
	// comes: look again then.
	if c.env != nil && !c.expiryCheck && slices.ContainsFunc(kept, func(e localEdit) bool { return !e.done.IsZero() }) {
		c.expiryCheck = true
		time.AfterFunc(editExpiry+10*time.Millisecond, func() {
			c.postChange(func() bool {
				c.expiryCheck = false
				tasks := c.rebase(c.baseTasks, time.Now())
				changed := !sameTasks(c.Tasks, tasks) // most often the edit is shown already
				c.Tasks = tasks
				return changed
			})
		})
	}
	return out
}

func reflects(base []Task, e localEdit) bool {
	i := slices.IndexFunc(base, func(t Task) bool { return t.ID == e.id })
	if e.task == nil {
		return i < 0
	}
	return i >= 0 && base[i] == *e.task
}
