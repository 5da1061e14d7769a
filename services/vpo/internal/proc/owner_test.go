package proc_test

import (
	"os"
	"os/exec"
	"testing"

	"github.com/vpo-project/vpo/services/vpo/internal/proc"
)

func TestOursRunning(t *testing.T) {
	boot := proc.BootID()
	if boot == "" {
		t.Fatal("no boot id")
	}
	sleep := exec.Command("sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = sleep.Process.Kill()
		_ = sleep.Wait()
	}()
	dead := exec.Command(os.Args[0], "-test.run=^$")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what string
		pid  int
		boot string
		want bool
	}{
		{"this process", os.Getpid(), boot, true},
		{"this process, recorded in another boot", os.Getpid(), "00000000-0000-0000-0000-000000000000", false},
		{"this process, recorded without a boot", os.Getpid(), "", false},
		{"another program", sleep.Process.Pid, boot, false},
		{"an exited process", dead.Process.Pid, boot, false},
	} {
		if got := proc.OursRunning(c.pid, c.boot); got != c.want {
			t.Errorf("%s: OursRunning %v, want %v", c.what, got, c.want)
		}
	}
}
