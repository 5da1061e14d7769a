package proc

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"sync"
)

// BootID is this boot's id (/proc/sys/kernel/random/boot_id), "" when it
// cannot be read. Journals record it with their process id: a pid of
// another boot says nothing about the processes running now.
var BootID = sync.OnceValue(func() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
})

// OursRunning reports whether process pid, recorded in the boot boot, is
// running now and runs this program: its executable is the same file as
// ours, or it has our command name (an upgrade replaces the file under a
// running daemon). A record of another boot, or without one (boot ""),
// is never of a running process: its pid may have been reused since.
func OursRunning(pid int, boot string) bool {
	if pid <= 0 || boot == "" || boot != BootID() {
		return false
	}
	dir := "/proc/" + strconv.Itoa(pid)
	if st, err := os.ReadFile(dir + "/stat"); err != nil || exited(st) {
		return false
	}
	if self, err := os.Executable(); err == nil {
		a, err1 := os.Stat(self)
		b, err2 := os.Stat(dir + "/exe")
		if err1 == nil && err2 == nil && os.SameFile(a, b) {
			return true
		}
	}
	ours, err1 := os.ReadFile("/proc/self/comm")
	theirs, err2 := os.ReadFile(dir + "/comm")
	return err1 == nil && err2 == nil && bytes.Equal(ours, theirs)
}

// exited reports whether st, the content of /proc/PID/stat, is of a
// process that exited and was not reaped yet.
func exited(st []byte) bool {
	i := bytes.LastIndexByte(st, ')')
	return i >= 0 && i+2 < len(st) && (st[i+2] == 'Z' || st[i+2] == 'X')
}
