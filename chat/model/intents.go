package model

// Intent is a gateway intent bit (Identify `intents`).
type Intent uint64

// Gateway intents (discord-api-docs topics/gateway.mdx).
const (
	IntentGuilds                 Intent = 1 << 0
	IntentGuildMembers           Intent = 1 << 1 // privileged
	IntentGuildModeration        Intent = 1 << 2
	IntentGuildExpressions       Intent = 1 << 3
	IntentGuildIntegrations      Intent = 1 << 4
	IntentGuildWebhooks          Intent = 1 << 5
	IntentGuildInvites           Intent = 1 << 6
	IntentGuildVoiceStates       Intent = 1 << 7
	IntentGuildPresences         Intent = 1 << 8 // privileged
	IntentGuildMessages          Intent = 1 << 9
	IntentGuildMessageReactions  Intent = 1 << 10
	IntentGuildMessageTyping     Intent = 1 << 11
	IntentDirectMessages         Intent = 1 << 12
	IntentDirectMessageReactions Intent = 1 << 13
	IntentDirectMessageTyping    Intent = 1 << 14
	IntentMessageContent         Intent = 1 << 15 // privileged
	IntentGuildScheduledEvents   Intent = 1 << 16
	IntentAutoModConfiguration   Intent = 1 << 20
	IntentAutoModExecution       Intent = 1 << 21
	IntentGuildMessagePolls      Intent = 1 << 24
	IntentDirectMessagePolls     Intent = 1 << 25

	// IntentsAll is every defined bit; others are invalid (close 4013).
	IntentsAll = (1<<17 - 1) | IntentAutoModConfiguration | IntentAutoModExecution |
		IntentGuildMessagePolls | IntentDirectMessagePolls
	// IntentsPrivileged need to be enabled for the application (else 4014).
	IntentsPrivileged = IntentGuildMembers | IntentGuildPresences | IntentMessageContent
)

// Has reports whether all bits of x are set.
func (i Intent) Has(x Intent) bool { return i&x == x }
