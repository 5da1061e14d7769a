// Package durable makes file-system changes survive a crash or a power
// cut.
package durable

import (
	"fmt"
	"os"
)

// SyncDir fsyncs the directory dir, making the renames, creations and
// removals of entries in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}
