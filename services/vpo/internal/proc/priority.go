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
// not 0; see toolNice) and, when idleIO, the idle I/O class. Linux keeps both per
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

// toolNice returns the niceness to give a tool started by the calling
// thread when asked for nice: max(nice, vpo's own niceness), or 0 when
// that is the niceness the tool inherited from the thread. vpo's own is
// the higher of the calling thread's and the main thread's (renice(1)
// of vpo's pid changes only the main thread).
func toolNice(nice int) int {
	inherited, err := niceOf(0)
	if err != nil {
		return nice
	}
	own := inherited
	if main, err := niceOf(os.Getpid()); err == nil {
		own = max(own, main)
	}
	if want := max(nice, own); want != inherited {
		return want
	}
	return 0
}

// niceOf returns the niceness of thread tid (0: the calling one).
func niceOf(tid int) (int, error) {
	// The system call returns 20 - niceness, which x/sys passes on.
	p, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
	if err != nil {
		return 0, err
	}
	return 20 - p, nil
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
