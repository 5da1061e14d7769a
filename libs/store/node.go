package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"sync/atomic"
	"time"
)

// ValidTag tells whether tag is a worker tag: 1 to 64 of a-z, 0-9, '.',
// '_', '-', starting with a letter or digit.
func ValidTag(tag string) bool {
	if tag == "" || len(tag) > 64 {
		return false
	}
	for i, c := range []byte(tag) {
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return false
		}
	}
	return true
}

// CleanTags checks tags (ValidTag) and returns them sorted without
// repeats (nil for none).
func CleanTags(tags []string) ([]string, error) {
	if len(tags) == 0 {
		return nil, nil
	}
	out := slices.Clone(tags)
	for _, t := range out {
		if !ValidTag(t) {
			return nil, fmt.Errorf("tag %q: want 1 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit: %w", t, ErrInvalid)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// tagList is the stored form of tags: a JSON array ('[]' for none).
func tagList(tags []string) string {
	if len(tags) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(tags)
	return string(b)
}

// workerIdentity is what ClaimJob records and matches for the node this
// store acts for.
type workerIdentity struct {
	node string
	tags string // tagList
}

// SetNode names the node this store acts for and the worker tags it
// offers: ClaimJob records the node on every job it claims, and claims
// only jobs whose requires are all among tags. Call it again to change the
// tags (a reload).
func (s *Store) SetNode(name string, tags []string) error {
	clean, err := CleanTags(tags)
	if err != nil {
		return fmt.Errorf("node %s: %w", name, err)
	}
	s.worker.Store(&workerIdentity{node: name, tags: tagList(clean)})
	return nil
}

// identity returns the node and tags ClaimJob uses.
func (s *Store) identity() workerIdentity {
	if w := s.worker.Load(); w != nil {
		return *w
	}
	return workerIdentity{tags: "[]"}
}

// workerSlot is the Store field SetNode writes.
type workerSlot = atomic.Pointer[workerIdentity]

// Node is one vpo daemon sharing the database, as its heartbeats say.
type Node struct {
	Name        string     `json:"name"`
	Owner       string     `json:"owner"` // lease owner name of its worker pool
	Version     string     `json:"version"`
	Address     string     `json:"address"`
	StartedAt   time.Time  `json:"started_at"`
	HeartbeatAt time.Time  `json:"heartbeat_at"`
	StoppedAt   *time.Time `json:"stopped_at"` // set by a clean shutdown
	Workers     int        `json:"workers"`
	Tags        []string   `json:"tags"`
	// RunningJobs is the number of running jobs the node claimed.
	RunningJobs int `json:"running_jobs"`
}

// Heartbeat records that node n is alive at now (n.HeartbeatAt is
// ignored): its row is written whole, stopped_at cleared.
func (s *Store) Heartbeat(ctx context.Context, n Node, now time.Time) error {
	tags, err := CleanTags(n.Tags)
	if err != nil {
		return fmt.Errorf("heartbeat of node %s: %w", n.Name, err)
	}
	if n.Name == "" || n.Owner == "" {
		return fmt.Errorf("heartbeat: empty node name or owner: %w", ErrInvalid)
	}
	_, err = s.wdb.ExecContext(ctx, `INSERT INTO nodes (name, owner, version, address, started_at, heartbeat_at, stopped_at, workers, tags)
		VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?)
		ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, version = excluded.version, address = excluded.address,
			started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at, stopped_at = NULL,
			workers = excluded.workers, tags = excluded.tags`,
		n.Name, n.Owner, n.Version, n.Address, formatTime(n.StartedAt), formatTime(now), n.Workers, tagList(tags))
	if err != nil {
		return fmt.Errorf("heartbeat of node %s: %w", n.Name, err)
	}
	return nil
}

// NodeStopped records that node name (run by owner) shut down at now.
func (s *Store) NodeStopped(ctx context.Context, name, owner string, now time.Time) error {
	if _, err := s.wdb.ExecContext(ctx, `UPDATE nodes SET stopped_at = ?3, heartbeat_at = ?3 WHERE name = ?1 AND owner = ?2`,
		name, owner, formatTime(now)); err != nil {
		return fmt.Errorf("record node %s stopped: %w", name, err)
	}
	return nil
}

// GetNode returns the row of node name, or ErrNotFound.
func (s *Store) GetNode(ctx context.Context, name string) (Node, error) {
	nodes, err := s.listNodes(ctx, "WHERE name = ?", name)
	if err != nil {
		return Node{}, err
	}
	if len(nodes) == 0 {
		return Node{}, fmt.Errorf("node %s: %w", name, ErrNotFound)
	}
	return nodes[0], nil
}

// ListNodes returns every node that ever heartbeat, by name.
func (s *Store) ListNodes(ctx context.Context) ([]Node, error) { return s.listNodes(ctx, "") }

func (s *Store) listNodes(ctx context.Context, where string, args ...any) ([]Node, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT name, owner, version, address, started_at, heartbeat_at, stopped_at, workers, tags,
			(SELECT count(*) FROM jobs WHERE status = 'running' AND jobs.node = nodes.name)
		FROM nodes `+where+` ORDER BY name`, args...)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	defer rows.Close()
	var out []Node
	for rows.Next() {
		var (
			n             Node
			started, beat string
			stopped       sql.NullString
			tags          string
		)
		if err := rows.Scan(&n.Name, &n.Owner, &n.Version, &n.Address, &started, &beat, &stopped, &n.Workers, &tags, &n.RunningJobs); err != nil {
			return nil, fmt.Errorf("list nodes: %w", err)
		}
		if n.StartedAt, err = parseTime(started); err != nil {
			return nil, fmt.Errorf("list nodes: %w", err)
		}
		if n.HeartbeatAt, err = parseTime(beat); err != nil {
			return nil, fmt.Errorf("list nodes: %w", err)
		}
		if n.StoppedAt, err = parseNullTime(stopped); err != nil {
			return nil, fmt.Errorf("list nodes: %w", err)
		}
		if err := json.Unmarshal([]byte(tags), &n.Tags); err != nil {
			return nil, fmt.Errorf("node %s: stored tags %q: %w", n.Name, tags, err)
		}
		if n.Tags == nil {
			n.Tags = []string{}
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	return out, nil
}

// PruneNodes deletes the rows of nodes whose last heartbeat is older than
// before and returns how many.
func (s *Store) PruneNodes(ctx context.Context, before time.Time) (int, error) {
	res, err := s.wdb.ExecContext(ctx, "DELETE FROM nodes WHERE heartbeat_at < ?", formatTime(before))
	if err != nil {
		return 0, fmt.Errorf("prune nodes: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
