package voicebench

import (
	"strings"
	"testing"
)

const sampleMetrics = `# HELP parley_sfu_packets_in_total Authenticated RTP packets received.
# TYPE parley_sfu_packets_in_total counter
parley_sfu_packets_in_total 20000
parley_sfu_packets_out_total 1.8e+06
parley_sfu_drops_total{reason="silence"} 12
parley_sfu_drops_total{reason="decrypt"} 0
parley_sfu_forwarding_latency_seconds_bucket{le="1e-05"} 5
go_goroutines 42
`

func TestParseCounters(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		prefix  string
		want    Counters
		drops   map[string]uint64
		wantErr bool
	}{
		{name: "sfu", in: sampleMetrics, prefix: "parley_sfu_", want: Counters{In: 20000, Out: 1800000},
			drops: map[string]uint64{"silence": 12, "decrypt": 0}},
		{name: "reflector", prefix: "parley_reflector_",
			in:   "parley_reflector_packets_in_total 7\nparley_reflector_packets_out_total 14\nparley_reflector_drops_total{reason=\"unknown_source\"} 1\n",
			want: Counters{In: 7, Out: 14}, drops: map[string]uint64{"unknown_source": 1}},
		{name: "garbage", in: "parley_sfu_packets_in_total\nparley_sfu_packets_out_total abc\nparley_sfu_packets_in_total -5\n",
			prefix: "parley_sfu_", drops: map[string]uint64{}},
		{name: "empty", prefix: "parley_sfu_", drops: map[string]uint64{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseCounters(strings.NewReader(tc.in), tc.prefix)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if c.In != tc.want.In || c.Out != tc.want.Out || len(c.Drops) != len(tc.drops) {
				t.Fatalf("got %+v, want %+v drops %v", c, tc.want, tc.drops)
			}
			for k, v := range tc.drops {
				if c.Drops[k] != v {
					t.Fatalf("drops[%s] = %d, want %d", k, c.Drops[k], v)
				}
			}
		})
	}
}

func TestCountersSub(t *testing.T) {
	a := Counters{In: 10, Out: 90, Drops: map[string]uint64{"silence": 5, "decrypt": 1}}
	b := Counters{In: 4, Out: 30, Drops: map[string]uint64{"silence": 2, "decrypt": 1}}
	d := a.sub(b)
	if d.In != 6 || d.Out != 60 || d.Drops["silence"] != 3 || len(d.Drops) != 1 {
		t.Fatalf("sub = %+v", d)
	}
}

func FuzzParseCounters(f *testing.F) {
	f.Add(sampleMetrics)
	f.Add("parley_sfu_drops_total{reason=\"x\"} 1e400\n")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseCounters(strings.NewReader(s), "parley_sfu_")
		if err == nil && c.Drops == nil {
			t.Fatal("nil drops map")
		}
	})
}
