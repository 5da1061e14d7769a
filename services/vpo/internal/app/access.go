package app

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The kinds of access accessUser.access checks, as access(2) numbers them.
const (
	accessRead   = 4
	accessWrite  = 2
	accessSearch = 1
)

// accessUser is the user whose access to media paths doctor checks.
type accessUser struct {
	name string // "user vpo"
	// ids is nil for the user running this command (access(2) decides),
	// else another user's ids (the mode bits decide).
	ids *userIDs
}

type userIDs struct {
	uid  uint32
	gids []uint32
}

// lookupAccessUser returns the user name with its groups.
func lookupAccessUser(name string) (accessUser, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return accessUser{}, err
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return accessUser{}, fmt.Errorf("user %s: uid %q: %w", name, u.Uid, err)
	}
	ids := userIDs{uid: uint32(uid)}
	groups, err := u.GroupIds()
	if err != nil {
		groups = []string{u.Gid}
	}
	for _, g := range append(groups, u.Gid) {
		if n, err := strconv.ParseUint(g, 10, 32); err == nil && !slices.Contains(ids.gids, uint32(n)) {
			ids.gids = append(ids.gids, uint32(n))
		}
	}
	return accessUser{name: "user " + name, ids: &ids}, nil
}

// access reports whether the user may access path as want says (a sum of
// accessRead, accessWrite, accessSearch). For another user than this
// process's it reads the mode bits of path and of every directory above it
// (which need search permission); access control lists are not read. A
// read-only file system refuses writes to every user.
func (a accessUser) access(path string, want uint32) error {
	if a.ids == nil {
		if err := syscall.Access(path, want); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return nil
	}
	if want&accessWrite != 0 {
		if err := syscall.Access(path, accessWrite); errors.Is(err, syscall.EROFS) {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	abs := resolvePath(path)
	for _, dir := range ancestors(abs) {
		ok, err := a.ids.allows(dir, accessSearch)
		if err != nil {
			return err
		}
		if !ok {
			return denied(dir, "%s: %w (no search permission on the directory)", dir, syscall.EACCES)
		}
	}
	ok, err := a.ids.allows(abs, want)
	if err != nil {
		return err
	}
	if !ok {
		return denied(abs, "%s: %w", abs, syscall.EACCES)
	}
	return nil
}

// errACL marks a denial by mode bits on a file that has an access control
// list, which may grant what the bits do not.
var errACL = errors.New("it has an access control list, which doctor does not read")

// denied is the error of a denial by the mode bits of path.
func denied(path, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	if _, xerr := unix.Getxattr(path, "system.posix_acl_access", nil); xerr == nil {
		return fmt.Errorf("%w; %w", err, errACL)
	}
	return err
}

func (a accessUser) accessAll(paths []string, want uint32) error {
	for _, p := range paths {
		if err := a.access(p, want); err != nil {
			return err
		}
	}
	return nil
}

// allows reports whether the mode bits of path give ids the access want:
// the owner's bits when ids is the owner, else the group's when one of its
// groups owns path, else the others'. Root may do anything.
func (ids userIDs) allows(path string, want uint32) (bool, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return false, fmt.Errorf("%s: %w", path, unwrapPath(err))
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false, fmt.Errorf("%s: no owner information", path)
	}
	if ids.uid == 0 {
		return true, nil
	}
	perm := uint32(fi.Mode().Perm())
	var bits uint32
	switch {
	case st.Uid == ids.uid:
		bits = perm >> 6
	case slices.Contains(ids.gids, st.Gid):
		bits = perm >> 3
	default:
		bits = perm
	}
	return bits&7&want == want, nil
}

// ancestors lists the directories above the absolute path p, from "/" down.
func ancestors(p string) []string {
	out := []string{"/"}
	parts := strings.Split(strings.Trim(filepath.Dir(p), "/"), "/")
	cur := ""
	for _, part := range parts {
		if part == "" {
			continue
		}
		cur += "/" + part
		out = append(out, cur)
	}
	return out
}
