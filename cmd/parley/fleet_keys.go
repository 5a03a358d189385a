package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/parleyhq/parley/fleet"
	"github.com/parleyhq/parley/internal/cli"
)

// The fleet's voice-token keys: every control plane signs with its own
// Ed25519 key, published in etcd (fleet.KeyRing); these commands list,
// rotate and withdraw them.

func init() {
	register(&command{name: "fleet keys", summary: "list the voice-token keys the control planes published (reads etcd)", run: runFleetKeys})
	register(&command{name: "fleet rotate-key", summary: "make every control plane sign voice tokens with a new key; the previous ones verify until their tokens expire (writes etcd)", run: runFleetRotateKey})
	register(&command{name: "fleet retire-key", summary: "withdraw a replaced voice-token key now (a leaked key): its tokens are refused on every node (writes etcd)", run: runFleetRetireKey})
}

func runFleetKeys(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("fleet keys", flag.ContinueOnError)
	reg := registryFlag(fs)
	asJSON := cli.Bool(fs, "json", "", false, "print JSON instead of a table")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	eps, err := registryEndpoints(*reg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	keys, err := fleet.TokenKeys(ctx, eps, "")
	if err != nil {
		return err
	}
	if *asJSON {
		if keys == nil {
			keys = []fleet.TokenKey{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(keys)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tSTATE\tOWNER\tCREATED\tRETIRES")
	for _, k := range keys {
		state, retires := "current", "-"
		if !k.Current() {
			state, retires = "retiring", time.UnixMilli(k.Retires).Format(time.RFC3339)
			if time.Now().UnixMilli() >= k.Retires {
				state = "retired"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, state, k.Owner, time.UnixMilli(k.Created).Format(time.RFC3339), retires)
	}
	if len(keys) == 0 {
		fmt.Fprintln(tw, "(no voice-token keys published: no control plane runs with --registry)")
	}
	return tw.Flush()
}

func runFleetRotateKey(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("fleet rotate-key", flag.ContinueOnError)
	reg := registryFlag(fs)
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	eps, err := registryEndpoints(*reg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := fleet.RequestRotation(ctx, eps, ""); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "asked every control plane to rotate its voice-token key: new tokens carry the new key; the previous keys verify until their tokens expire (see parley fleet keys)")
	return nil
}

func runFleetRetireKey(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("fleet retire-key", flag.ContinueOnError)
	reg := registryFlag(fs)
	kid, err := cli.ParseOneArg(fs, args)
	if err != nil {
		return err
	}
	if kid == "" {
		return cli.Usagef("usage: parley fleet retire-key --registry etcd://HOST:PORT KID")
	}
	eps, err := registryEndpoints(*reg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := fleet.RetireKey(ctx, eps, "", kid); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "retired voice-token key %s: every voice node refuses its tokens (4004)\n", kid)
	return nil
}
