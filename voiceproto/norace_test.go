//go:build !race

package voiceproto

const raceEnabled = false
