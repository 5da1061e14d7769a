// Command vpo-pkg builds the vpo .deb and .rpm with nfpm (as a library) from
// packaging/nfpm.yaml and a built vpo binary, and renders the vpo(1) man
// page from `vpo --help-man`. Its output depends only on its inputs: the
// packages' timestamps come from the newest packaging/changelog.yaml entry,
// so building twice gives identical bytes.
//
//	vpo-pkg package --format deb --binary bazel-bin/.../vpo --out vpo.deb
//	vpo-pkg manpage --binary ./vpo --out vpo.1.gz
package main

import (
	"context"
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage:
  vpo-pkg package --format deb|rpm --binary PATH --out FILE [--config packaging/nfpm.yaml]
                  [--changelog packaging/changelog.yaml] [--arch amd64] [--release 1]
                  [--want-version V] [--print-name]
  vpo-pkg manpage --binary PATH --out FILE [--version V] [--changelog packaging/changelog.yaml]
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "package":
		err = runPackage(ctx, args[1:], stdout)
	case "manpage":
		err = runManpage(ctx, args[1:])
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "vpo-pkg: unknown command %q\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "vpo-pkg: %v\n", err)
		return 1
	}
	return 0
}
