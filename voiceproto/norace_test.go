//go:build !race

package voicecrypto

const raceEnabled = false
