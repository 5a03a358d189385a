// Package store persists the chat server's data behind one interface, Store,
// with two engines sharing one SQL implementation (SQL):
//
//   - embedded SQLite (modernc.org/sqlite, pure Go) in WAL mode, the default,
//     one file in the data dir;
//   - PostgreSQL through jackc/pgx/v5 when a DSN is configured.
//
// Messages are keyed by (channel_id, bucket, id), bucket being a 10-day
// window of the snowflake timestamp (Bucket), as Discord's Cassandra schema
// did, so a wide-column backend can implement the same interface later.
// Paging walks buckets newest first with the primary key as the index.
// A message row keeps its attachments' records (never their signed URLs);
// read_states keeps each user's last acknowledged message per channel
// (readstates.go).
//
// Durability: a call that returns nil has committed. SQLite runs with
// synchronous=NORMAL in WAL mode, which survives a killed process (the WAL
// is in the OS page cache) though not a power cut; set Synchronous "FULL"
// for the latter.
package store
