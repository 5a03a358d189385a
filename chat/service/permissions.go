package service

import (
	"strconv"

	"github.com/parleyhq/parley/chat/model"
)

// allPermissions is what the owner and administrators have: every bit but
// the sign bit, as Discord serialises it.
const allPermissions = ^uint64(0) >> 1

// perms computes a user's guild-wide permissions (the caller holds the
// graph's lock or owns gs). The rules, in order:
//   - the guild's owner has every permission, member or not;
//   - a non-member has none;
//   - a member has the union of the @everyone role (id = guild id) and the
//     roles listed on their member; unparsable permission strings count
//     as none;
//   - ADMINISTRATOR in that union grants every permission.
//
// Channel permission overwrites are not applied.
func (gs *guildState) perms(user model.Snowflake) uint64 {
	if gs.guild.OwnerID == user {
		return allPermissions
	}
	m := gs.members[user]
	if m == nil {
		return 0
	}
	var p uint64
	for _, r := range gs.roles {
		has := r.ID == gs.guild.ID
		for _, id := range m.Roles {
			has = has || id == r.ID
		}
		if has {
			v, _ := strconv.ParseUint(r.Permissions, 10, 64)
			p |= v
		}
	}
	if p&model.PermAdministrator != 0 {
		return allPermissions
	}
	return p
}

// require checks that user is a member (else ErrMissingAccess, even for
// the owner) with every bit of perm (else ErrMissingPermissions), and
// returns the user's guild permissions it computed.
func (gs *guildState) require(user model.Snowflake, perm uint64) (uint64, error) {
	if gs.members[user] == nil {
		return 0, ErrMissingAccess
	}
	p := gs.perms(user)
	if p&perm != perm {
		return 0, ErrMissingPermissions
	}
	return p, nil
}
