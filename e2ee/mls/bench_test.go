package mls

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// Commit benchmarks for the cases DAVE hits, at 25, 100 and 500 members
// (fixtures in benchfixture_test.go, built once per size):
//
//   - worst: the first commit after a mass Add (one external Add by
//     reference). Parents are blank, so the UpdatePath encrypts to n-1
//     single leaves.
//   - add, remove: steady state (every member has committed, all parents
//     populated); a commit of one external Add by reference (with its
//     Welcome) or one external Remove by reference.
//
// Committer is leaf 0 and receiver leaf 1, the receiver that derives the
// most path keys.
//
// Besides ns/op (wall time, parallel work included) each benchmark reports
// cpu-ns/op, the process CPU time per operation over all threads: on a
// shared machine it varies far less than wall time, and wall/cpu shows how
// much of the work ran in parallel.

// cpuMeter reports cpu-ns/op for the b.Loop it brackets.
type cpuMeter struct{ start time.Duration }

// startCPU collects the fixture's garbage first so its GC does not count.
func startCPU() cpuMeter {
	runtime.GC()
	return cpuMeter{processCPU()}
}

func (m cpuMeter) report(b *testing.B) {
	if d := processCPU() - m.start; d > 0 && b.N > 0 {
		b.ReportMetric(float64(d.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

var benchSizes = []int{25, 100, 500}

type benchCommit struct {
	name   string
	state  func(*benchFixture) *benchCase
	ref    func(*benchCase) ProposalRef
	commit func(*benchCase) []byte
}

var benchCommits = []benchCommit{
	{"worst", func(f *benchFixture) *benchCase { return &f.worst },
		func(c *benchCase) ProposalRef { return c.addRef }, func(c *benchCase) []byte { return c.addCommit }},
	{"add", func(f *benchFixture) *benchCase { return &f.steady },
		func(c *benchCase) ProposalRef { return c.addRef }, func(c *benchCase) []byte { return c.addCommit }},
	{"remove", func(f *benchFixture) *benchCase { return &f.steady },
		func(c *benchCase) ProposalRef { return c.removeRef }, func(c *benchCase) []byte { return c.removeCommit }},
}

// BenchmarkCommitCreate measures CreateCommit (full UpdatePath, and the
// Welcome for an Add).
func BenchmarkCommitCreate(b *testing.B) {
	for _, bc := range benchCommits {
		b.Run(bc.name, func(b *testing.B) {
			for _, n := range benchSizes {
				b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
					c := bc.state(fixture(b, n))
					refs := []ProposalRef{bc.ref(c)}
					b.ReportAllocs()
					cpu := startCPU()
					for b.Loop() {
						g := *c.committer
						g.pending = nil
						if _, _, err := g.CreateCommit(refs, nil); err != nil {
							b.Fatal(err)
						}
					}
					cpu.report(b)
				})
			}
		})
	}
}

// BenchmarkCommitProcess measures ProcessCommit of such a commit by the
// receiver.
func BenchmarkCommitProcess(b *testing.B) {
	for _, bc := range benchCommits {
		b.Run(bc.name, func(b *testing.B) {
			for _, n := range benchSizes {
				b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
					c := bc.state(fixture(b, n))
					commit := bc.commit(c)
					b.ReportAllocs()
					cpu := startCPU()
					for b.Loop() {
						g := *c.receiver
						if _, err := g.ProcessCommit(commit); err != nil {
							b.Fatal(err)
						}
					}
					cpu.report(b)
				})
			}
		})
	}
}

// BenchmarkServerCheckCommit measures the gateway's structural validation
// and Welcome split of the worst-case commit.
func BenchmarkServerCheckCommit(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			c := &fixture(b, n).worst
			data := append(append([]byte{}, c.addCommit...), c.addWelcome...)
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				if _, err := c.view.CheckCommit(data, nil); err != nil {
					b.Fatal(err)
				}
			}
			cpu.report(b)
		})
	}
}

// BenchmarkJoinFromWelcome measures joining an n-member group (tree
// verification dominates): worst joins from the mass Add's Welcome (one
// populated path), steady joins the full tree from an Add commit's Welcome.
func BenchmarkJoinFromWelcome(b *testing.B) {
	for _, name := range []string{"worst", "steady"} {
		b.Run(name, func(b *testing.B) {
			for _, n := range benchSizes {
				b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
					f := fixture(b, n)
					c := &f.worst
					if name == "steady" {
						c = &f.steady
					}
					b.ReportAllocs()
					cpu := startCPU()
					for b.Loop() {
						if _, err := JoinFromWelcome(c.joinWelcome, c.joiner); err != nil {
							b.Fatal(err)
						}
					}
					cpu.report(b)
				})
			}
		})
	}
}
