package store

import "testing"

func TestRebind(t *testing.T) {
	tests := []struct {
		dollar  bool
		in, out string
	}{
		{false, `SELECT a FROM t WHERE b = ? AND c = ?`, `SELECT a FROM t WHERE b = ? AND c = ?`},
		{true, `SELECT a FROM t WHERE b = ? AND c = ?`, `SELECT a FROM t WHERE b = $1 AND c = $2`},
		{true, `DELETE FROM t`, `DELETE FROM t`},
	}
	for _, tc := range tests {
		s := &SQL{d: dialect{dollar: tc.dollar}}
		for range 2 { // the second answer comes from the cache
			if got := s.rebind(tc.in); got != tc.out {
				t.Errorf("rebind(%q) = %q, want %q", tc.in, got, tc.out)
			}
		}
	}
}
