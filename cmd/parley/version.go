package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/parleyhq/parley/internal/cli"
)

func init() {
	register(&command{name: "version", summary: "print the version and the source revision it was built from", run: runVersion})
}

// versionInfo is what `parley version` prints: the module version (or
// "(devel)" for a source build), the VCS revision and time, whether the
// tree had uncommitted changes, and the Go version.
type versionInfo struct {
	Version  string `json:"version"`
	Revision string `json:"revision,omitempty"`
	Time     string `json:"time,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
}

func buildVersion() versionInfo {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return versionInfo{Version: "unknown"}
	}
	v := versionInfo{Version: bi.Main.Version, Go: bi.GoVersion}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// String is one line. The revision is left out when the version names it
// already (Go stamps a source build's pseudo-version with the revision's
// first 12 digits and +dirty).
func (v versionInfo) String() string {
	s := "parley " + v.Version
	if v.Revision != "" && !strings.Contains(v.Version, v.Revision[:min(12, len(v.Revision))]) {
		s += " " + v.Revision
		if v.Modified {
			s += "+dirty"
		}
	}
	if v.Time != "" {
		s += " (" + v.Time + ")"
	}
	return s + " " + v.Go
}

func runVersion(_ context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	v := buildVersion()
	if *asJSON {
		return cli.PrintJSON(stdout, v)
	}
	_, err := fmt.Fprintln(stdout, v)
	return err
}
