package library

import (
	"container/heap"
	"time"
)

// holdQueue holds files until their size and mtime stayed the same for
// hold. It coalesces per path: a file changing a thousand times is one
// entry, whose deadline moves with each change.
type holdQueue struct {
	hold    time.Duration
	entries map[string]*held
	due     dueHeap
}

// held is one file waiting: its size and mtime when last looked at, and
// when it is due to be looked at again.
type held struct {
	size  int64
	mtime time.Time
	at    time.Time
}

func newHoldQueue(hold time.Duration) *holdQueue {
	return &holdQueue{hold: hold, entries: map[string]*held{}}
}

// touch records that path was seen at now with size and mtime. A new path,
// a changed size or mtime, or changed (an event that says the file was
// written) starts its hold again from now.
func (q *holdQueue) touch(path string, size int64, mtime time.Time, changed bool, now time.Time) {
	e := q.entries[path]
	if e == nil {
		e = &held{}
		q.entries[path] = e
	} else if !changed && e.size == size && e.mtime.Equal(mtime) {
		return
	}
	e.size, e.mtime, e.at = size, mtime, now.Add(q.hold)
	heap.Push(&q.due, dueItem{path: path, at: e.at})
}

// forget drops path.
func (q *holdQueue) forget(path string) { delete(q.entries, path) }

// len is the number of files held.
func (q *holdQueue) len() int { return len(q.entries) }

// next returns when the earliest file is due; ok is false when none is
// held.
func (q *holdQueue) next() (time.Time, bool) {
	for q.due.Len() > 0 {
		it := q.due[0]
		if e := q.entries[it.path]; e != nil && e.at.Equal(it.at) {
			return it.at, true
		}
		heap.Pop(&q.due) // stale: forgotten or moved later
	}
	return time.Time{}, false
}

// popDue removes and returns the files due at now, with the size and mtime
// they had when last seen. The caller looks at each again: unchanged, it
// is stable; changed, it touches it back in.
func (q *holdQueue) popDue(now time.Time) map[string]held {
	out := map[string]held{}
	for {
		at, ok := q.next()
		if !ok || at.After(now) {
			return out
		}
		it := heap.Pop(&q.due).(dueItem)
		out[it.path] = *q.entries[it.path]
		delete(q.entries, it.path)
	}
}

type dueItem struct {
	path string
	at   time.Time
}

// dueHeap orders items by due time (container/heap).
type dueHeap []dueItem

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h dueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)        { *h = append(*h, x.(dueItem)) }
func (h *dueHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}
