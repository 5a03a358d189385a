//go:build !race

package signaling_test

// stageSize is the room of TestStageOfAThousand (see race_test.go).
const stageSize = 1000
