package service

import (
	"context"
	"slices"
	"strings"

	"github.com/parleyhq/parley/chat/model"
)

// ChannelPatch is the body of channel create and modify. Nil fields are
// unchanged; RTCRegion set to "" means automatic (null).
type ChannelPatch struct {
	Name      *string            `json:"name"`
	Type      *model.ChannelType `json:"type"`
	Topic     *string            `json:"topic"`
	Position  *int               `json:"position"`
	Bitrate   *int               `json:"bitrate"`
	UserLimit *int               `json:"user_limit"`
	NSFW      *bool              `json:"nsfw"`
	RTCRegion *string            `json:"rtc_region"`
	// RTCRegionSet is true when the body had rtc_region (even null).
	RTCRegionSet bool `json:"-"`
}

func (p ChannelPatch) apply(c *model.Channel) error {
	if p.Name != nil {
		n, err := checkName("name", strings.TrimSpace(*p.Name), 1, 100)
		if err != nil {
			return err
		}
		if c.Type == model.ChannelText {
			n = strings.ToLower(strings.ReplaceAll(n, " ", "-"))
		}
		c.Name = n
	}
	if p.Topic != nil {
		if len(*p.Topic) > 1024 {
			return fieldErr("topic", "BASE_TYPE_MAX_LENGTH", "Must be 1024 or fewer in length.")
		}
		if err := checkText("topic", *p.Topic); err != nil {
			return err
		}
		t := *p.Topic
		c.Topic = &t
	}
	if p.Position != nil {
		c.Position = *p.Position
	}
	if p.Bitrate != nil {
		if *p.Bitrate < 8000 || *p.Bitrate > 384000 {
			return fieldErr("bitrate", "NUMBER_TYPE_MIN", "Must be between 8000 and 384000.")
		}
		c.Bitrate = *p.Bitrate
	}
	if p.UserLimit != nil {
		if *p.UserLimit < 0 || *p.UserLimit > 99 {
			return fieldErr("user_limit", "NUMBER_TYPE_MAX", "Must be between 0 and 99.")
		}
		c.UserLimit = *p.UserLimit
	}
	if p.NSFW != nil {
		c.NSFW = *p.NSFW
	}
	if p.RTCRegionSet {
		if p.RTCRegion == nil || *p.RTCRegion == "" {
			c.RTCRegion = nil
		} else {
			r, err := checkName("rtc_region", *p.RTCRegion, 1, 64)
			if err != nil {
				return err
			}
			c.RTCRegion = &r
		}
	}
	return nil
}

// checkRegion refuses an rtc_region (set, not null) that names no live
// region of the registry (GET /voice/regions), as Discord refuses unknown
// regions (50035, BASE_TYPE_CHOICES). Without a registry (no voice) any
// name is kept.
func (s *Service) checkRegion(ctx context.Context, p ChannelPatch) error {
	if !p.RTCRegionSet || p.RTCRegion == nil || *p.RTCRegion == "" || s.cfg.Registry == nil {
		return nil
	}
	regions := s.liveRegions(ctx)
	if slices.Contains(regions, *p.RTCRegion) {
		return nil
	}
	return fieldErr("rtc_region", "BASE_TYPE_CHOICES", "Value must be one of ("+strings.Join(regions, ", ")+") or null.")
}

// Channel is GET /channels/{id}.
func (s *Service) Channel(user, id model.Snowflake) (model.Channel, error) {
	v, err := s.graph.channelAccess(user, id, model.PermViewChannel)
	if err != nil {
		return model.Channel{}, err
	}
	return v.channel, nil
}

// CreateChannel is POST /guilds/{id}/channels.
func (s *Service) CreateChannel(ctx context.Context, user, guild model.Snowflake, p ChannelPatch) (model.Channel, error) {
	v, err := s.graph.access(user, guild, model.PermManageChannels)
	if err != nil {
		return model.Channel{}, err
	}
	if p.Name == nil {
		return model.Channel{}, fieldErr("name", "BASE_TYPE_REQUIRED", "This field is required")
	}
	c := model.Channel{ID: s.gen.Next(), GuildID: guild, Type: model.ChannelText, Position: v.channels, PermissionOverwrites: []model.Overwrite{}}
	if p.Type != nil {
		if *p.Type != model.ChannelText && *p.Type != model.ChannelVoice {
			return model.Channel{}, fieldErr("type", "BASE_TYPE_CHOICES", "Value must be one of {0, 2}.")
		}
		c.Type = *p.Type
	}
	if c.Type == model.ChannelVoice {
		c.Bitrate = 64000
	}
	if err := p.apply(&c); err != nil {
		return model.Channel{}, err
	}
	if err := s.checkRegion(ctx, p); err != nil {
		return model.Channel{}, err
	}
	if err := s.st.PutChannel(ctx, c); err != nil {
		return model.Channel{}, err
	}
	s.graph.addChannel(c)
	s.dispatcher().Dispatch(event("CHANNEL_CREATE", guild, model.IntentGuilds, c))
	return c, nil
}

// ModifyChannel is PATCH /channels/{id}.
func (s *Service) ModifyChannel(ctx context.Context, user, id model.Snowflake, p ChannelPatch) (model.Channel, error) {
	v, err := s.graph.channelAccess(user, id, model.PermManageChannels)
	if err != nil {
		return model.Channel{}, err
	}
	c := v.channel
	if p.Type != nil && *p.Type != c.Type {
		return model.Channel{}, fieldErr("type", "CHANNEL_TYPE_INVALID", "Cannot change the channel type.")
	}
	if err := p.apply(&c); err != nil {
		return model.Channel{}, err
	}
	if err := s.checkRegion(ctx, p); err != nil {
		return model.Channel{}, err
	}
	if err := s.st.PutChannel(ctx, c); err != nil {
		return model.Channel{}, err
	}
	c = s.graph.updateChannel(c)
	s.dispatcher().Dispatch(event("CHANNEL_UPDATE", c.GuildID, model.IntentGuilds, c))
	return c, nil
}

// DeleteChannel is DELETE /channels/{id}; users in a deleted voice channel
// are disconnected from voice.
func (s *Service) DeleteChannel(ctx context.Context, user, id model.Snowflake) (model.Channel, error) {
	v, err := s.graph.channelAccess(user, id, model.PermManageChannels)
	if err != nil {
		return model.Channel{}, err
	}
	c := v.channel
	if err := s.st.DeleteChannel(ctx, id); err != nil {
		return model.Channel{}, err
	}
	s.deleter.add(ctx, deleteJob{channel: id}) // its messages' files
	s.graph.removeChannel(c)
	for _, u := range s.voice.InChannel(c.GuildID, id) {
		s.disconnectVoice(ctx, c.GuildID, u)
	}
	s.dispatcher().Dispatch(event("CHANNEL_DELETE", c.GuildID, model.IntentGuilds, c))
	return c, nil
}
