package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
)

// machine describes where the numbers were measured.
type machine struct {
	CPU, Cores, Memory, Kernel, OS, Virt, FS, Go string
	Tools                                        []string
}

func describeMachine(ctx context.Context, work string) (machine, error) {
	m := machine{Cores: fmt.Sprint(runtime.NumCPU()), Go: runtime.Version()}
	m.CPU = procField("/proc/cpuinfo", "model name")
	if kb := procField("/proc/meminfo", "MemTotal"); kb != "" {
		var n int
		fmt.Sscanf(kb, "%d", &n)
		m.Memory = fmt.Sprintf("%.1f GiB", float64(n)/(1<<20))
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.OS = osRelease()
	m.Virt = "none detected"
	if out, err := exec.CommandContext(ctx, "lscpu").Output(); err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			if v, ok := strings.CutPrefix(l, "Hypervisor vendor:"); ok {
				m.Virt = strings.TrimSpace(v) + " guest"
			}
		}
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(work, &st); err == nil {
		m.FS = map[int64]string{0xEF53: "ext4", 0x01021994: "tmpfs", 0x794c7630: "overlayfs",
			0x58465342: "xfs", 0x9123683E: "btrfs"}[int64(st.Type)]
		if m.FS == "" {
			m.FS = fmt.Sprintf("type 0x%x", st.Type)
		}
	}
	for _, tool := range [][]string{{"wrk", "-v"}, {"nginx", "-v"}, {"hyperfine", "--version"}} {
		out, _ := exec.CommandContext(ctx, tool[0], tool[1:]...).CombinedOutput()
		line := strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
		if line == "" {
			return m, fmt.Errorf("%s is not installed (tools/bench/bench.sh installs it)", tool[0])
		}
		m.Tools = append(m.Tools, line)
	}
	return m, nil
}

func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func osRelease() string {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return runtime.GOOS
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
			s := strings.Trim(v, `"`)
			if dv, err := os.ReadFile("/etc/debian_version"); err == nil {
				s += " (" + strings.TrimSpace(string(dv)) + ")"
			}
			return s
		}
	}
	return runtime.GOOS
}
