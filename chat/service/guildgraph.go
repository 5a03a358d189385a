package service

import (
	"sort"
	"sync"

	"github.com/parleyhq/parley/chat/model"
)

// guildState is the in-memory copy of one guild; guarded by guildGraph.mu.
// Stored values are replaced (or a field reassigned), never written
// through, so copies handed out may share their slices and pointers.
type guildState struct {
	guild    model.Guild
	channels map[model.Snowflake]*model.Channel
	roles    []model.Role
	members  map[model.Snowflake]*model.Member
}

func newGuildState(g model.Guild) *guildState {
	return &guildState{guild: g, channels: map[model.Snowflake]*model.Channel{}, members: map[model.Snowflake]*model.Member{}}
}

// sortedChannels returns the channels by position, then id.
func (gs *guildState) sortedChannels() []model.Channel {
	out := make([]model.Channel, 0, len(gs.channels))
	for _, c := range gs.channels {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Position != out[j].Position {
			return out[i].Position < out[j].Position
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// sortedMembers returns the members by user id.
func (gs *guildState) sortedMembers() []model.Member {
	out := make([]model.Member, 0, len(gs.members))
	for _, m := range gs.members {
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UserID < out[j].UserID })
	return out
}

// guildGraph is the in-memory guild graph (write-through: every change is
// committed to the store first): guilds with their channels, roles and
// members, which guild each channel is in, and the default guild. Its
// methods take mu themselves and return copies; none calls out (store,
// dispatcher, accounts, voice) with mu held, so mu is a leaf lock.
type guildGraph struct {
	mu sync.RWMutex
	// Guarded by mu:
	guilds       map[model.Snowflake]*guildState
	channelGuild map[model.Snowflake]model.Snowflake // channel → guild
	defaultGuild model.Snowflake
}

func newGuildGraph() *guildGraph {
	return &guildGraph{guilds: map[model.Snowflake]*guildState{}, channelGuild: map[model.Snowflake]model.Snowflake{}}
}

// membership is one of a user's guilds with the user's permissions there.
type membership struct {
	guild model.Guild
	perms uint64
}

// guildView is a guild as one member sees it.
type guildView struct {
	guild    model.Guild
	roles    []model.Role
	perms    uint64 // the member's guild permissions
	channels int    // number of channels
}

// channelView is a channel as one member sees it.
type channelView struct {
	channel model.Channel
	member  model.Member
	perms   uint64 // the member's guild permissions
}

// guildSnapshot is a whole guild (GUILD_CREATE).
type guildSnapshot struct {
	guild    model.Guild
	roles    []model.Role
	channels []model.Channel // by position
	members  []model.Member  // by user id
}

// ---- reads ----

// defaultID is the seeded guild's id (0 before load).
func (g *guildGraph) defaultID() model.Snowflake {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.defaultGuild
}

// exists reports whether a guild exists.
func (g *guildGraph) exists(guild model.Snowflake) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.guilds[guild] != nil
}

// owner returns a guild's owner; false if the guild does not exist.
func (g *guildGraph) owner(guild model.Snowflake) (model.Snowflake, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if gs := g.guilds[guild]; gs != nil {
		return gs.guild.OwnerID, true
	}
	return 0, false
}

// memberships lists the guilds user is a member of, by id.
func (g *guildGraph) memberships(user model.Snowflake) []membership {
	g.mu.RLock()
	defer g.mu.RUnlock()
	var out []membership
	for _, gs := range g.guilds {
		if gs.members[user] != nil {
			out = append(out, membership{guild: gs.guild, perms: gs.perms(user)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].guild.ID < out[j].guild.ID })
	return out
}

// memberGuildLocked returns the guild if user is a member.
func (g *guildGraph) memberGuildLocked(user, guild model.Snowflake) (*guildState, error) {
	gs := g.guilds[guild]
	if gs == nil {
		return nil, ErrUnknownGuild
	}
	if gs.members[user] == nil {
		return nil, ErrMissingAccess
	}
	return gs, nil
}

// access returns guild as user sees it if user is a member with every bit
// of perm (0: membership only).
func (g *guildGraph) access(user, guild model.Snowflake, perm uint64) (guildView, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	gs, err := g.memberGuildLocked(user, guild)
	var p uint64
	if err == nil {
		p, err = gs.require(user, perm)
	}
	if err != nil {
		return guildView{}, err
	}
	return guildView{guild: gs.guild, roles: append([]model.Role(nil), gs.roles...), perms: p, channels: len(gs.channels)}, nil
}

// snapshot copies a whole guild.
func (g *guildGraph) snapshot(guild model.Snowflake) (guildSnapshot, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	gs := g.guilds[guild]
	if gs == nil {
		return guildSnapshot{}, ErrUnknownGuild
	}
	return guildSnapshot{guild: gs.guild, roles: append([]model.Role(nil), gs.roles...),
		channels: gs.sortedChannels(), members: gs.sortedMembers()}, nil
}

// channels returns a guild's channels by position if user is a member.
func (g *guildGraph) channels(user, guild model.Snowflake) ([]model.Channel, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	gs, err := g.memberGuildLocked(user, guild)
	if err != nil {
		return nil, err
	}
	return gs.sortedChannels(), nil
}

// members returns a guild's members by user id if user is a member.
func (g *guildGraph) members(user, guild model.Snowflake) ([]model.Member, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	gs, err := g.memberGuildLocked(user, guild)
	if err != nil {
		return nil, err
	}
	return gs.sortedMembers(), nil
}

// member returns one member (no access check).
func (g *guildGraph) member(guild, user model.Snowflake) (model.Member, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if gs := g.guilds[guild]; gs != nil {
		if m := gs.members[user]; m != nil {
			return *m, true
		}
	}
	return model.Member{}, false
}

// membersAmong returns those of ids that are members of guild, in order.
func (g *guildGraph) membersAmong(guild model.Snowflake, ids []model.Snowflake) []model.Snowflake {
	if len(ids) == 0 {
		return nil
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	gs := g.guilds[guild]
	if gs == nil {
		return nil
	}
	var out []model.Snowflake
	for _, id := range ids {
		if gs.members[id] != nil {
			out = append(out, id)
		}
	}
	return out
}

// roleNamed returns the id of a guild's last role with that name (0: none).
func (g *guildGraph) roleNamed(guild model.Snowflake, name string) model.Snowflake {
	g.mu.RLock()
	defer g.mu.RUnlock()
	var id model.Snowflake
	if gs := g.guilds[guild]; gs != nil {
		for _, r := range gs.roles {
			if r.Name == name {
				id = r.ID
			}
		}
	}
	return id
}

// channelLocked returns a channel and its guild.
func (g *guildGraph) channelLocked(id model.Snowflake) (*model.Channel, *guildState, error) {
	gid, ok := g.channelGuild[id]
	if !ok {
		return nil, nil, ErrUnknownChannel
	}
	gs := g.guilds[gid]
	c := gs.channels[id]
	if c == nil {
		return nil, nil, ErrUnknownChannel
	}
	return c, gs, nil
}

// channel returns a channel (no access check).
func (g *guildGraph) channel(id model.Snowflake) (model.Channel, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	c, _, err := g.channelLocked(id)
	if err != nil {
		return model.Channel{}, err
	}
	return *c, nil
}

// channelAccess returns a channel as user sees it if user is a member of
// its guild with every bit of perm.
func (g *guildGraph) channelAccess(user, id model.Snowflake, perm uint64) (channelView, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	c, gs, err := g.channelLocked(id)
	var p uint64
	if err == nil {
		p, err = gs.require(user, perm)
	}
	if err != nil {
		return channelView{}, err
	}
	return channelView{channel: *c, member: *gs.members[user], perms: p}, nil
}

// ---- writes (after the store has committed) ----

// addGuild adds a loaded guild and indexes its channels.
func (g *guildGraph) addGuild(gs *guildState) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.guilds[gs.guild.ID] = gs
	for id := range gs.channels {
		g.channelGuild[id] = gs.guild.ID
	}
}

// setDefault records the seeded guild.
func (g *guildGraph) setDefault(id model.Snowflake) {
	g.mu.Lock()
	g.defaultGuild = id
	g.mu.Unlock()
}

// setGuild replaces a guild's own fields and returns its roles.
func (g *guildGraph) setGuild(guild model.Guild) []model.Role {
	g.mu.Lock()
	defer g.mu.Unlock()
	gs := g.guilds[guild.ID]
	if gs == nil {
		return nil
	}
	gs.guild = guild
	return append([]model.Role(nil), gs.roles...)
}

// addChannel adds a new channel to its guild.
func (g *guildGraph) addChannel(c model.Channel) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if gs := g.guilds[c.GuildID]; gs != nil {
		gs.channels[c.ID] = &c
		g.channelGuild[c.ID] = c.GuildID
	}
}

// updateChannel replaces a channel that still exists, keeping its last
// message id; it returns c with that id.
func (g *guildGraph) updateChannel(c model.Channel) model.Channel {
	g.mu.Lock()
	defer g.mu.Unlock()
	if gs := g.guilds[c.GuildID]; gs != nil && gs.channels[c.ID] != nil {
		c.LastMessageID = gs.channels[c.ID].LastMessageID
		cc := c
		gs.channels[c.ID] = &cc
	}
	return c
}

// removeChannel deletes a channel.
func (g *guildGraph) removeChannel(c model.Channel) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if gs := g.guilds[c.GuildID]; gs != nil {
		delete(gs.channels, c.ID)
	}
	delete(g.channelGuild, c.ID)
}

// setLastMessage records a channel's newest message (ids only move
// forward: creates may finish out of order).
func (g *guildGraph) setLastMessage(channel, msg model.Snowflake) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c, _, err := g.channelLocked(channel); err == nil && (c.LastMessageID == nil || *c.LastMessageID < msg) {
		c.LastMessageID = &msg
	}
}

// replaceLastMessage sets a channel's newest message to last (nil: none
// left) if it still is deleted.
func (g *guildGraph) replaceLastMessage(channel, deleted model.Snowflake, last *model.Snowflake) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c, _, err := g.channelLocked(channel); err == nil && c.LastMessageID != nil && *c.LastMessageID == deleted {
		c.LastMessageID = last
	}
}

// addMember adds (or replaces) a member of an existing guild.
func (g *guildGraph) addMember(m model.Member) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if gs := g.guilds[m.GuildID]; gs != nil {
		gs.members[m.UserID] = &m
	}
}

// updateMember replaces a member that still exists.
func (g *guildGraph) updateMember(m model.Member) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if gs := g.guilds[m.GuildID]; gs != nil && gs.members[m.UserID] != nil {
		gs.members[m.UserID] = &m
	}
}

// removeMember deletes a member.
func (g *guildGraph) removeMember(guild, user model.Snowflake) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if gs := g.guilds[guild]; gs != nil {
		delete(gs.members, user)
	}
}
