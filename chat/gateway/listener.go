package gateway

import "github.com/parleyhq/parley/internal/connlimit"

// DefaultConns are the gateway's per-IP caps: open connections, and
// connections that have not identified or resumed yet. A client (a bot
// process, a browser tab) holds one connection per shard and identifies
// right after Hello; a NAT of many users stays well within them.
var DefaultConns = connlimit.Config{PerIP: 256, PendingPerIP: 16}
