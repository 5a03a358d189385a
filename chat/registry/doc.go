// Package registry is the embedded voice registry: the fleet of one
// machine, held in process. Embedded implements voicectl.Registry (the
// interface the chat control plane depends on) with the same placement
// rules as the etcd registry of package fleet, and both pass one suite
// (internal/voicectl/registrytest). `parley serve` without --registry
// uses it with the local voice node.
package registry
