//go:build race

package signaling_test

// stageSize is the room of TestStageOfAThousand: under the race detector
// a room of 1,000 (a million op 5s) takes about a minute on two cores, so
// the room is 300, past the 251 where a joiner used to be closed.
const stageSize = 300
