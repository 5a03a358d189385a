package main

import "testing"

// TestVersionString: the revision and +dirty are printed once, also when
// the version (a pseudo-version from VCS stamping) carries them already.
func TestVersionString(t *testing.T) {
	const rev = "e380bacfd522a7562b6e5606db4b8e9e1813ece6"
	for _, tt := range []struct {
		name string
		v    versionInfo
		want string
	}{
		{"devel", versionInfo{Version: "(devel)", Go: "go1.26.8"}, "parley (devel) go1.26.8"},
		{"devel with revision", versionInfo{Version: "(devel)", Revision: rev, Time: "2026-12-07T12:00:00Z", Modified: true, Go: "go1.26.8"},
			"parley (devel) " + rev + "+dirty (2026-12-07T12:00:00Z) go1.26.8"},
		{"pseudo-version", versionInfo{Version: "v0.0.0-20261207120000-e380bacfd522+dirty", Revision: rev, Time: "2026-12-07T12:00:00Z", Modified: true, Go: "go1.26.8"},
			"parley v0.0.0-20261207120000-e380bacfd522+dirty (2026-12-07T12:00:00Z) go1.26.8"},
		{"release", versionInfo{Version: "v1.2.0", Revision: rev, Go: "go1.26.8"}, "parley v1.2.0 " + rev + " go1.26.8"},
		{"short revision", versionInfo{Version: "v1.2.0", Revision: "abc", Go: "go1.26.8"}, "parley v1.2.0 abc go1.26.8"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.v.String(); got != tt.want {
				t.Fatalf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}
