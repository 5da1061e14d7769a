package proc

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// The ioprio_set(2) constants (linux/ioprio.h), which x/sys does not
// define.
const (
	ioprioWhoProcess = 1
	ioprioClassShift = 13
	ioprioClassIdle  = 3
)

// IdlePriority is ioprio_get's value for the idle I/O class.
const IdlePriority = ioprioClassIdle << ioprioClassShift

// setPriority gives every thread of process pid the niceness nice (when
// not 0) and, when idleIO, the idle I/O class. Linux keeps both per
// thread: the threads are listed again until a pass finds no new one, so
// that a thread started meanwhile by one not yet changed is changed too.
// Threads started after that inherit them from their changed creator.
func setPriority(pid, nice int, idleIO bool) error {
	done := map[int]bool{}
	var errs []error
	for pass := 0; pass < 4; pass++ {
		tids, err := threads(pid)
		if err != nil {
			return err
		}
		fresh := false
		for _, tid := range tids {
			if done[tid] {
				continue
			}
			done[tid], fresh = true, true
			if nice != 0 {
				if err := unix.Setpriority(unix.PRIO_PROCESS, tid, nice); err != nil && !errors.Is(err, unix.ESRCH) {
					errs = append(errs, fmt.Errorf("setpriority %d of thread %d: %w", nice, tid, err))
				}
			}
			if idleIO {
				_, _, e := unix.Syscall(unix.SYS_IOPRIO_SET, ioprioWhoProcess, uintptr(tid), IdlePriority)
				if e != 0 && e != unix.ESRCH {
					errs = append(errs, fmt.Errorf("ioprio_set idle of thread %d: %w", tid, e))
				}
			}
		}
		if !fresh {
			break
		}
	}
	return errors.Join(errs...)
}

// threads lists the thread ids of process pid.
func threads(pid int) ([]int, error) {
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		return nil, fmt.Errorf("threads of process %d: %w", pid, err)
	}
	tids := make([]int, 0, len(ents))
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}

// IOPriority returns ioprio_get's value for process (thread) pid.
func IOPriority(pid int) (int, error) {
	r, _, e := unix.Syscall(unix.SYS_IOPRIO_GET, ioprioWhoProcess, uintptr(pid), 0)
	if e != 0 {
		return 0, fmt.Errorf("ioprio_get %d: %w", pid, e)
	}
	return int(r), nil
}
