package service

import (
	"errors"
	"fmt"
	"testing"

	"github.com/parleyhq/parley/chat/model"
)

// TestPermissions covers every rule of guildState.perms and require: the
// owner, membership, the @everyone role, assigned and unassigned roles,
// unparsable permission strings, ADMINISTRATOR, and several bits at once.
func TestPermissions(t *testing.T) {
	const (
		guildID model.Snowflake = 100
		userID  model.Snowflake = 7
		ownerID model.Snowflake = 8
	)
	p := func(bits uint64) string { return fmt.Sprint(bits) }
	everyone := p(model.PermsEveryoneDefault)
	tests := []struct {
		name     string
		everyone string   // @everyone's permissions
		has      []string // permissions of the roles the member has
		hasNot   []string // permissions of guild roles the member lacks
		member   bool     // the user is a member
		owner    bool     // the user owns the guild
		perm     uint64
		want     error
		all      bool // perms reports every permission
	}{
		{"non-member", everyone, nil, nil, false, false, model.PermViewChannel, ErrMissingAccess, false},
		{"non-member, no bits asked", everyone, nil, nil, false, false, 0, ErrMissingAccess, false},
		{"owner", everyone, nil, nil, true, true, model.PermManageGuild | model.PermKickMembers, nil, true},
		{"owner with a bare @everyone", "0", nil, nil, true, true, model.PermAdministrator, nil, true},
		{"owner not a member", everyone, nil, nil, false, true, model.PermViewChannel, ErrMissingAccess, true},
		{"@everyone grants", everyone, nil, nil, true, false, model.PermViewChannel | model.PermSendMessages | model.PermReadMessageHistory, nil, false},
		{"@everyone lacks", everyone, nil, nil, true, false, model.PermManageChannels, ErrMissingPermissions, false},
		{"@everyone lacks mention everyone", everyone, nil, nil, true, false, model.PermMentionEveryone, ErrMissingPermissions, false},
		{"@everyone revoked", "0", nil, nil, true, false, model.PermSendMessages, ErrMissingPermissions, false},
		{"one of two bits missing", everyone, nil, nil, true, false, model.PermViewChannel | model.PermManageMessages, ErrMissingPermissions, false},
		{"assigned role", everyone, []string{p(model.PermManageMessages)}, nil, true, false, model.PermManageMessages, nil, false},
		{"roles and @everyone add up", everyone, []string{p(model.PermKickMembers)}, nil, true, false, model.PermKickMembers | model.PermSendMessages, nil, false},
		{"two roles add up", "0", []string{p(model.PermMuteMembers), p(model.PermMoveMembers)}, nil, true, false, model.PermMuteMembers | model.PermMoveMembers, nil, false},
		{"unassigned role does not count", everyone, nil, []string{p(model.PermManageGuild)}, true, false, model.PermManageGuild, ErrMissingPermissions, false},
		{"unparsable role counts as none", everyone, []string{"lots"}, nil, true, false, model.PermManageChannels, ErrMissingPermissions, false},
		{"unparsable @everyone counts as none", "lots", nil, nil, true, false, model.PermViewChannel, ErrMissingPermissions, false},
		{"administrator grants all", "0", []string{p(model.PermAdministrator)}, nil, true, false, model.PermManageGuild | model.PermDeafenMembers, nil, true},
		{"administrator through @everyone", p(model.PermAdministrator), nil, nil, true, false, model.PermMoveMembers, nil, true},
		{"administrator on an unassigned role", everyone, nil, []string{p(model.PermAdministrator)}, true, false, model.PermKickMembers, ErrMissingPermissions, false},
		{"no bits asked of a member", "0", nil, nil, true, false, 0, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := model.Guild{ID: guildID, OwnerID: ownerID}
			if tc.owner {
				g.OwnerID = userID
			}
			gs := newGuildState(g)
			gs.roles = []model.Role{{ID: guildID, Name: "@everyone", Permissions: tc.everyone}}
			m := &model.Member{GuildID: guildID, UserID: userID}
			next := guildID + 1
			for _, perms := range tc.has {
				gs.roles = append(gs.roles, model.Role{ID: next, Permissions: perms})
				m.Roles = append(m.Roles, next)
				next++
			}
			for _, perms := range tc.hasNot {
				gs.roles = append(gs.roles, model.Role{ID: next, Permissions: perms})
				next++
			}
			if tc.member {
				gs.members[userID] = m
			}
			p, err := gs.require(userID, tc.perm)
			if !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
				t.Fatalf("require(%b) = %v, want %v", tc.perm, err, tc.want)
			}
			if err == nil && p != gs.perms(userID) {
				t.Fatalf("require returned %b, perms %b", p, gs.perms(userID))
			}
			if got := gs.perms(userID); (got == allPermissions) != tc.all {
				t.Fatalf("perms = %b, all permissions: %v", got, tc.all)
			}
		})
	}
}
