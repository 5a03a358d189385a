package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/chat/store"
)

const (
	metaSeeded = "seeded_guild"
	// SystemUsername is the reserved owner of the seeded guild.
	SystemUsername = "parley"
)

// seed creates the default guild once.
func (s *Service) seed(ctx context.Context) error {
	if _, err := s.st.GetMeta(ctx, metaSeeded); err == nil {
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	owner := model.NewUser(s.gen.Next(), SystemUsername, false)
	owner.System = true
	if err := s.st.CreateUser(ctx, store.Account{User: owner}); err != nil && !errors.Is(err, store.ErrConflict) {
		return err
	}
	gid := s.gen.Next()
	general, lounge, admin := s.gen.Next(), s.gen.Next(), s.gen.Next()
	g := model.Guild{ID: gid, Name: "Parley", OwnerID: owner.ID, SystemChannelID: &general}
	if err := s.st.PutGuild(ctx, g); err != nil {
		return err
	}
	chans := []model.Channel{
		{ID: general, GuildID: gid, Type: model.ChannelText, Name: "general", PermissionOverwrites: []model.Overwrite{}},
		{ID: lounge, GuildID: gid, Type: model.ChannelVoice, Name: "Lounge", Position: 1, Bitrate: 64000, PermissionOverwrites: []model.Overwrite{}},
	}
	for _, c := range chans {
		if err := s.st.PutChannel(ctx, c); err != nil {
			return err
		}
	}
	roles := []model.Role{
		{ID: gid, Name: "@everyone", Permissions: fmt.Sprint(model.PermsEveryoneDefault)},
		{ID: admin, Name: "Admin", Position: 1, Permissions: fmt.Sprint(model.PermAdministrator | model.PermsEveryoneDefault), Hoist: true},
	}
	for _, r := range roles {
		if err := s.st.PutRole(ctx, gid, r); err != nil {
			return err
		}
	}
	if err := s.st.PutMember(ctx, model.Member{GuildID: gid, UserID: owner.ID, JoinedAt: time.Now().UTC()}); err != nil {
		return err
	}
	return s.st.SetMeta(ctx, metaSeeded, gid.String())
}

// load reads users and the guild graph into memory.
func (s *Service) load(ctx context.Context) error {
	users, err := s.st.ListUsers(ctx)
	if err != nil {
		return err
	}
	guilds, err := s.st.ListGuilds(ctx)
	if err != nil {
		return err
	}
	def, _ := s.st.GetMeta(ctx, metaSeeded)
	for _, u := range users {
		if u.Username == SystemUsername {
			u.System = true
		}
		s.accounts.put(u)
	}
	if id, err := model.ParseSnowflake(def); err == nil {
		s.graph.setDefault(id)
	}
	for _, g := range guilds {
		gs := newGuildState(g)
		chans, err := s.st.ListChannels(ctx, g.ID)
		if err != nil {
			return err
		}
		for i := range chans {
			c := chans[i]
			if c.Type == model.ChannelText {
				if last, err := s.st.ListMessages(ctx, c.ID, store.Page{Limit: 1}); err == nil && len(last) == 1 {
					id := last[0].ID
					c.LastMessageID = &id
				}
			}
			gs.channels[c.ID] = &c
		}
		if gs.roles, err = s.st.ListRoles(ctx, g.ID); err != nil {
			return err
		}
		members, err := s.st.ListMembers(ctx, g.ID)
		if err != nil {
			return err
		}
		for i := range members {
			m := members[i]
			gs.members[m.UserID] = &m
		}
		s.graph.addGuild(gs)
	}
	return nil
}
