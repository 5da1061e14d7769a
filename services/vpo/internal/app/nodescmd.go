package app

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/vpo-project/vpo/services/vpo/internal/server"
)

func addNodes(app *kingpin.Application, env Env, cmds map[string]commandFunc) {
	cmd := app.Command("nodes", "List the vpo nodes that share the daemon's database: state (up, gone, stopped), "+
		"last heartbeat, version, workers, tags and running jobs.")
	f := addClientFlags(cmd)
	cmds[cmd.FullCommand()] = func(ctx context.Context) error {
		c, err := f.client(env)
		if err != nil {
			return err
		}
		var list server.NodeList
		if err := c.do(ctx, "GET", "/api/nodes", nil, &list); err != nil {
			return err
		}
		if f.json {
			return writeJSON(env.Stdout, list)
		}
		return printNodes(env.Stdout, list.Nodes, time.Now())
	}
}

// printNodes writes one line per node.
func printNodes(w io.Writer, nodes []server.NodeView, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSTATE\tHEARTBEAT\tVERSION\tWORKERS\tRUNNING\tTAGS\tADDRESS")
	for _, n := range nodes {
		name := n.Name
		if n.Self {
			name += " (this)"
		}
		tags := strings.Join(n.Tags, ",")
		if tags == "" {
			tags = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s ago\t%s\t%d\t%d\t%s\t%s\n", name, n.State,
			now.Sub(n.HeartbeatAt).Round(time.Second), n.Version, n.Workers, n.RunningJobs, tags, n.Address)
	}
	return tw.Flush()
}
