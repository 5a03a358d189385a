package model

// Permission bits (discord-api-docs topics/permissions.mdx), serialised as
// decimal strings.
const (
	PermCreateInvite       uint64 = 1 << 0
	PermKickMembers        uint64 = 1 << 1
	PermBanMembers         uint64 = 1 << 2
	PermAdministrator      uint64 = 1 << 3
	PermManageChannels     uint64 = 1 << 4
	PermManageGuild        uint64 = 1 << 5
	PermAddReactions       uint64 = 1 << 6
	PermViewChannel        uint64 = 1 << 10
	PermSendMessages       uint64 = 1 << 11
	PermManageMessages     uint64 = 1 << 13
	PermEmbedLinks         uint64 = 1 << 14
	PermAttachFiles        uint64 = 1 << 15
	PermReadMessageHistory uint64 = 1 << 16
	PermMentionEveryone    uint64 = 1 << 17
	PermConnect            uint64 = 1 << 20
	PermSpeak              uint64 = 1 << 21
	PermMuteMembers        uint64 = 1 << 22
	PermDeafenMembers      uint64 = 1 << 23
	PermMoveMembers        uint64 = 1 << 24
	PermUseVAD             uint64 = 1 << 25

	// PermsEveryoneDefault is what a fresh guild's @everyone role grants.
	PermsEveryoneDefault = PermCreateInvite | PermAddReactions | PermViewChannel |
		PermSendMessages | PermEmbedLinks | PermAttachFiles | PermReadMessageHistory |
		PermConnect | PermSpeak | PermUseVAD
)
