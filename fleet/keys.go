package fleet

import (
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/parleyhq/parley/internal/voicectl"
)

// DefaultPrefix is where a fleet's keys live in etcd.
const DefaultPrefix = "/parley/fleet/"

// record is a node's value under nodes/ and seen/.
type record struct {
	voicectl.Node
	// Lease is the node's etcd lease: placements on it are put with it.
	Lease int64 `json:"lease"`
	// Present lists who is connected, "CHANNEL/USER" (voicectl.Presence),
	// sorted; at most maxPresent entries.
	Present []string `json:"present,omitempty"`
}

// maxPresent bounds a record's presence list (a record stays well under
// etcd's 1.5 MB request limit).
const maxPresent = 20000

// presenceEntry is one Present entry.
func presenceEntry(channel, user string) string { return channel + "/" + user }

func nodesKey(prefix string) string              { return prefix + "nodes/" }
func seenKey(prefix string) string               { return prefix + "seen/" }
func placementsKey(prefix string) string         { return prefix + "placements/" }
func nodeKey(prefix, id string) string           { return nodesKey(prefix) + id }
func placementKey(prefix, channel string) string { return placementsKey(prefix) + channel }
func drainKey(prefix, id string) string          { return prefix + "drain/" + id }

// decodeRecord reads a node's record and checks what placement and
// VOICE_SERVER_UPDATE rely on: an ID, a host:port endpoint, a known
// state and no negative figures. Anyone who can write to etcd writes
// these bytes; a bad record is ErrRecord and never placed on.
func decodeRecord(b []byte) (record, error) {
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return record{}, fmt.Errorf("%w: %v", ErrRecord, err)
	}
	switch {
	case !validID(r.ID):
		return record{}, fmt.Errorf("%w: bad id %q", ErrRecord, r.ID)
	case !validEndpoint(r.Endpoint):
		return record{}, fmt.Errorf("%w: node %s: bad endpoint %q", ErrRecord, r.ID, r.Endpoint)
	case r.State != voicectl.NodeServing && r.State != voicectl.NodeDraining && r.State != voicectl.NodeLost:
		return record{}, fmt.Errorf("%w: node %s: unknown state %q", ErrRecord, r.ID, r.State)
	case r.Capacity < 0 || r.Load.Rooms < 0 || r.Load.Participants < 0 || r.Load.PacketsPerSecond < 0 || r.Load.CPU < 0:
		return record{}, fmt.Errorf("%w: node %s: negative capacity or load", ErrRecord, r.ID)
	case len(r.Present) > maxPresent:
		return record{}, fmt.Errorf("%w: node %s: %d present, at most %d", ErrRecord, r.ID, len(r.Present), maxPresent)
	}
	slices.Sort(r.Present) // Connected searches it
	return r, nil
}

// validEndpoint reports whether e is host:port with a port in 1..65535.
func validEndpoint(e string) bool {
	host, port, err := net.SplitHostPort(e)
	if err != nil || host == "" || len(e) > 300 {
		return false
	}
	p, err := strconv.Atoi(port)
	return err == nil && p > 0 && p < 65536
}

// ParseURL reads a --registry value: etcd://HOST:PORT[,HOST:PORT…] (at
// most 16 endpoints). It returns the endpoints as host:port.
func ParseURL(s string) ([]string, error) {
	rest, ok := strings.CutPrefix(s, "etcd://")
	if !ok || rest == "" || len(s) > 4096 {
		return nil, fmt.Errorf("%w: %q", ErrURL, s)
	}
	parts := strings.Split(strings.TrimSuffix(rest, "/"), ",")
	if len(parts) > 16 {
		return nil, fmt.Errorf("%w: at most 16 endpoints", ErrURL)
	}
	out := make([]string, 0, len(parts))
	for _, p := range parts {
		host, port, err := net.SplitHostPort(p)
		if err != nil || host == "" || strings.ContainsAny(host, "/?#@ %") {
			return nil, fmt.Errorf("%w: endpoint %q", ErrURL, p)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%w: port of %q", ErrURL, p)
		}
		out = append(out, net.JoinHostPort(host, port))
	}
	return out, nil
}

// validID reports whether id can be a key segment (nodes and channels).
func validID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}
