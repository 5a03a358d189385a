package bustest

import "testing"

// TestInProcess runs the suite on one machine's path: the control plane
// calls the node's Controller directly, so the bus is the node.
func TestInProcess(t *testing.T) {
	Run(t, func(t *testing.T) Harness {
		r := NewRecorder()
		return Harness{Bus: r, Node: r}
	})
}
