// Package fleet is the voice fleet's registry on etcd: voice nodes
// register themselves under a lease (Member), and control planes read the
// fleet through a prefix watch and place each voice channel on exactly one
// node (Registry, a voicectl.Registry; the embedded one for one machine is
// chat/registry.Embedded, and both pass internal/voicectl/registrytest).
//
// Keys, under Prefix (default "/parley/fleet/"):
//
//	nodes/ID        the node's record (JSON voicectl.Node and its lease id),
//	                put with the node's lease: it vanishes when the node's
//	                keep-alives stop for the TTL
//	seen/ID         the same record without a lease: a node whose nodes/
//	                key is gone but whose seen/ key stays was lost (a clean
//	                Close deletes both)
//	placements/CH   the id of the node voice channel CH is placed on, put
//	                with that node's lease (so it goes with the node), and
//	                only by a transaction comparing the key's revision:
//	                two control planes never place one channel twice
//	ctl/mute/G/U    voice moderation (Bus, Follower): the last server mute
//	ctl/deaf/G/U    and deafen of user U in guild G, kept StateTTL
//	ctl/revoked/S   voice session S revoked, until its last token expires
//	ctl/disconnect/G/U/ID
//	                a disconnect, acted on by the nodes watching when it
//	                is put (by revision: once); gone after EventTTL
//	keys/KID        a control plane's voice-token public key (TokenKey,
//	                KeyRing), on a lease kept alive while it is current;
//	                a replaced key says when it retires (its last token's
//	                expiry) and its lease runs out a grace later. Voice
//	                nodes verify "pv2." tokens with these (Follower)
//	keys-rotate     a rotation request: every KeyRing makes a new key
//	                current (`parley fleet rotate-key`)
//
// A Member that loses its session (no keep-alive answered for 3/4 of the
// TTL, before etcd expires its lease) calls OnLost — the voice node stops serving and ends its rooms
// — then registers again under a new lease and calls OnServing.
//
// Imports: internal only, and the etcd client; only the binary composes it.
package fleet
