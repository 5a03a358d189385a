package rest

import (
	"net/http"
	"strconv"

	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/chat/service"
	"github.com/parleyhq/parley/chat/store"
)

func (s *Server) routes() {
	svc := s.cfg.Service
	s.mux.HandleFunc("/", notFound) // less specific than every route
	// Accounts.
	s.handle("POST /auth/register", false, "", func(c *call) (int, any, error) {
		var req struct{ Username, Password string }
		if err := decode(c, &req); err != nil {
			return 0, nil, err
		}
		if err := s.authAttempt(c); err != nil {
			return 0, nil, err
		}
		u, tok, err := svc.Register(c.r.Context(), req.Username, req.Password)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusCreated, map[string]any{"token": tok, "user_id": u.ID, "user": u}, nil
	})
	s.handle("POST /auth/login", false, "", func(c *call) (int, any, error) {
		var req struct{ Login, Username, Password string }
		if err := decode(c, &req); err != nil {
			return 0, nil, err
		}
		if req.Login == "" {
			req.Login = req.Username
		}
		if err := s.authAttempt(c); err != nil {
			return 0, nil, err
		}
		var u model.User
		var tok string
		err := s.checkPassword(c, req.Login, service.ErrBadLogin, func() (err error) {
			u, tok, err = svc.Login(c.r.Context(), req.Login, req.Password)
			return err
		})
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, map[string]any{"token": tok, "user_id": u.ID, "user": u}, nil
	})
	s.handle("POST /auth/logout", true, "", func(c *call) (int, any, error) {
		return http.StatusNoContent, nil, svc.Logout(c.r.Context(), c.auth)
	})
	s.handle("POST /auth/logout-all", true, "", func(c *call) (int, any, error) {
		return http.StatusNoContent, nil, svc.LogoutAll(c.r.Context(), c.auth)
	})
	s.handle("PATCH /users/@me", true, "", func(c *call) (int, any, error) {
		var req struct {
			Password    *string `json:"password"`
			NewPassword *string `json:"new_password"`
		}
		if err := decode(c, &req); err != nil {
			return 0, nil, err
		}
		if req.NewPassword == nil {
			return http.StatusOK, c.user, nil
		}
		if req.Password == nil {
			return 0, nil, formError("password", "BASE_TYPE_REQUIRED", "This field is required")
		}
		if err := s.authAttempt(c); err != nil {
			return 0, nil, err
		}
		var u model.User
		var tok string
		err := s.checkPassword(c, c.user.Username, service.ErrBadPassword, func() (err error) {
			u, tok, err = svc.ChangePassword(c.r.Context(), c.user.ID, *req.Password, *req.NewPassword)
			return err
		})
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, struct {
			model.User
			Token string `json:"token"`
		}{u, tok}, nil
	})
	s.handle("POST /_parley/bots/reset", false, "", func(c *call) (int, any, error) {
		if !s.adminOK(c.r) {
			return 0, nil, service.ErrMissingAccess // 403 50001
		}
		var req struct {
			Name string `json:"name"`
		}
		if err := decode(c, &req); err != nil {
			return 0, nil, err
		}
		u, tok, err := svc.ResetBotToken(c.r.Context(), req.Name)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, map[string]any{"token": tok, "user_id": u.ID, "user": u}, nil
	})
	s.handle("POST /_parley/bots", false, "", func(c *call) (int, any, error) {
		if !s.adminOK(c.r) {
			return 0, nil, service.ErrMissingAccess // 403 50001
		}
		var req struct {
			Name  string `json:"name"`
			Admin bool   `json:"admin"`
		}
		if err := decode(c, &req); err != nil {
			return 0, nil, err
		}
		u, tok, err := svc.CreateBot(c.r.Context(), req.Name, req.Admin)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusCreated, map[string]any{"token": tok, "user_id": u.ID, "user": u}, nil
	})

	// Gateway discovery.
	s.handle("GET /gateway", false, "", func(c *call) (int, any, error) {
		return http.StatusOK, map[string]string{"url": s.cfg.GatewayURL}, nil
	})
	s.handle("GET /gateway/bot", true, "", func(c *call) (int, any, error) {
		return http.StatusOK, map[string]any{"url": s.cfg.GatewayURL, "shards": 1, "session_start_limit": map[string]int{
			"total": 1000, "remaining": 1000, "reset_after": 86_400_000, "max_concurrency": s.cfg.MaxConcurrency}}, nil
	})

	// Users and applications.
	s.handle("GET /users/@me", true, "", func(c *call) (int, any, error) {
		return http.StatusOK, c.user, nil
	})
	s.handle("GET /users/@me/guilds", true, "", func(c *call) (int, any, error) {
		return http.StatusOK, svc.UserGuilds(c.user.ID), nil
	})
	s.handle("GET /users/{user}", true, "", func(c *call) (int, any, error) {
		id, err := pathID(c, "user")
		if err != nil {
			return 0, nil, err
		}
		u, err := svc.User(id)
		return http.StatusOK, u, err
	})
	app := func(c *call) (int, any, error) {
		return http.StatusOK, map[string]any{"id": c.user.ID, "name": c.user.Username, "icon": nil, "description": "",
			"summary": "", "bot_public": true, "bot_require_code_grant": false, "verify_key": "", "flags": 0,
			"owner": c.user, "team": nil, "bot": c.user}, nil
	}
	s.handle("GET /oauth2/applications/@me", true, "", app)
	s.handle("GET /applications/@me", true, "", app)

	// Voice regions.
	regions := func(c *call) (int, any, error) { return http.StatusOK, svc.VoiceRegions(c.r.Context()), nil }
	s.handle("GET /voice/regions", true, "", regions)
	s.handle("GET /guilds/{guild}/regions", true, "guild", regions)

	s.guildRoutes(svc)
	s.channelRoutes(svc)
}

func (s *Server) guildRoutes(svc *service.Service) {
	s.handle("GET /guilds/{guild}", true, "guild", func(c *call) (int, any, error) {
		g, err := pathID(c, "guild")
		if err != nil {
			return 0, nil, err
		}
		obj, err := svc.Guild(c.user.ID, g)
		return http.StatusOK, obj, err
	})
	s.handle("PATCH /guilds/{guild}", true, "guild", func(c *call) (int, any, error) {
		g, err := pathID(c, "guild")
		if err != nil {
			return 0, nil, err
		}
		var req struct {
			Name *string `json:"name"`
		}
		if err := decode(c, &req); err != nil {
			return 0, nil, err
		}
		obj, err := svc.ModifyGuild(c.r.Context(), c.user.ID, g, req.Name)
		return http.StatusOK, obj, err
	})
	s.handle("GET /guilds/{guild}/channels", true, "guild", func(c *call) (int, any, error) {
		g, err := pathID(c, "guild")
		if err != nil {
			return 0, nil, err
		}
		cs, err := svc.GuildChannels(c.user.ID, g)
		return http.StatusOK, cs, err
	})
	s.handle("POST /guilds/{guild}/channels", true, "guild", func(c *call) (int, any, error) {
		g, err := pathID(c, "guild")
		if err != nil {
			return 0, nil, err
		}
		p, err := channelPatch(c)
		if err != nil {
			return 0, nil, err
		}
		ch, err := svc.CreateChannel(c.r.Context(), c.user.ID, g, p)
		return http.StatusCreated, ch, err
	})
	s.handle("GET /guilds/{guild}/members", true, "guild", func(c *call) (int, any, error) {
		g, err := pathID(c, "guild")
		if err != nil {
			return 0, nil, err
		}
		q := c.r.URL.Query()
		limit := 1
		if v := q.Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 1000 {
				return 0, nil, formError("limit", "NUMBER_TYPE_MAX", "Must be between 1 and 1000.")
			}
			limit = n
		}
		var after model.Snowflake
		if v := q.Get("after"); v != "" && v != "0" {
			if after, err = model.ParseSnowflake(v); err != nil {
				return 0, nil, formError("after", "NUMBER_TYPE_COERCE", "Value is not snowflake.")
			}
		}
		ms, err := svc.GuildMembers(c.user.ID, g, limit, after)
		return http.StatusOK, ms, err
	})
	s.handle("GET /guilds/{guild}/members/{user}", true, "guild", func(c *call) (int, any, error) {
		g, u, err := guildUser(c)
		if err != nil {
			return 0, nil, err
		}
		m, err := svc.Member(c.user.ID, g, u)
		return http.StatusOK, m, err
	})
	s.handle("PATCH /guilds/{guild}/members/{user}", true, "guild", func(c *call) (int, any, error) {
		g, u, err := guildUser(c)
		if err != nil {
			return 0, nil, err
		}
		var p service.MemberPatch
		present, err := decodeFields(c, &p)
		if err != nil {
			return 0, nil, err
		}
		_, p.ChannelSet = present["channel_id"]
		m, err := svc.ModifyMember(c.r.Context(), c.user.ID, g, u, p)
		return http.StatusOK, m, err
	})
	s.handle("DELETE /guilds/{guild}/members/{user}", true, "guild", func(c *call) (int, any, error) {
		g, u, err := guildUser(c)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusNoContent, nil, svc.KickMember(c.r.Context(), c.user.ID, g, u)
	})
}

func guildUser(c *call) (model.Snowflake, model.Snowflake, error) {
	g, err := pathID(c, "guild")
	if err != nil {
		return 0, 0, err
	}
	u, err := pathID(c, "user")
	return g, u, err
}

func channelPatch(c *call) (service.ChannelPatch, error) {
	var p service.ChannelPatch
	present, err := decodeFields(c, &p)
	if err != nil {
		return p, err
	}
	_, p.RTCRegionSet = present["rtc_region"]
	return p, nil
}

func (s *Server) channelRoutes(svc *service.Service) {
	s.handle("GET /channels/{channel}", true, "channel", func(c *call) (int, any, error) {
		id, err := pathID(c, "channel")
		if err != nil {
			return 0, nil, err
		}
		ch, err := svc.Channel(c.user.ID, id)
		return http.StatusOK, ch, err
	})
	s.handle("PATCH /channels/{channel}", true, "channel", func(c *call) (int, any, error) {
		id, err := pathID(c, "channel")
		if err != nil {
			return 0, nil, err
		}
		p, err := channelPatch(c)
		if err != nil {
			return 0, nil, err
		}
		ch, err := svc.ModifyChannel(c.r.Context(), c.user.ID, id, p)
		return http.StatusOK, ch, err
	})
	s.handle("DELETE /channels/{channel}", true, "channel", func(c *call) (int, any, error) {
		id, err := pathID(c, "channel")
		if err != nil {
			return 0, nil, err
		}
		ch, err := svc.DeleteChannel(c.r.Context(), c.user.ID, id)
		return http.StatusOK, ch, err
	})
	s.handle(routeCreateMessage, true, "channel", func(c *call) (int, any, error) {
		id, err := pathID(c, "channel")
		if err != nil {
			return 0, nil, err
		}
		var req service.MessageCreate
		multi, boundary := isMultipart(c.r)
		if multi {
			req, err = s.messageForm(c, id, boundary) // counts its refusals
		} else {
			err = decode(c, &req)
		}
		if err != nil {
			return 0, nil, err
		}
		m, err := svc.CreateMessage(c.r.Context(), c.user.ID, id, req)
		if err != nil && multi {
			s.uploadsRefused.Add(1)
			s.discard(c.r.Context(), req.Files)
		}
		return http.StatusOK, m, err
	})
	s.handle("GET /channels/{channel}/messages", true, "channel", func(c *call) (int, any, error) {
		id, err := pathID(c, "channel")
		if err != nil {
			return 0, nil, err
		}
		var p store.Page
		q := c.r.URL.Query()
		for _, f := range []struct {
			name string
			dst  *model.Snowflake
		}{{"before", &p.Before}, {"after", &p.After}, {"around", &p.Around}} {
			if v := q.Get(f.name); v != "" {
				if *f.dst, err = model.ParseSnowflake(v); err != nil {
					return 0, nil, formError(f.name, "NUMBER_TYPE_COERCE", "Value is not snowflake.")
				}
			}
		}
		p.Limit = 50
		if v := q.Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 100 {
				return 0, nil, formError("limit", "NUMBER_TYPE_MAX", "Must be between 1 and 100.")
			}
			p.Limit = n
		}
		ms, err := svc.ListMessages(c.r.Context(), c.user.ID, id, p)
		return http.StatusOK, ms, err
	})
	s.handle("GET /channels/{channel}/messages/{message}", true, "channel", func(c *call) (int, any, error) {
		ch, mid, err := channelMessage(c)
		if err != nil {
			return 0, nil, err
		}
		m, err := svc.GetMessage(c.r.Context(), c.user.ID, ch, mid)
		return http.StatusOK, m, err
	})
	s.handle("PATCH /channels/{channel}/messages/{message}", true, "channel", func(c *call) (int, any, error) {
		ch, mid, err := channelMessage(c)
		if err != nil {
			return 0, nil, err
		}
		var req service.MessageEdit
		if err := decode(c, &req); err != nil {
			return 0, nil, err
		}
		m, err := svc.EditMessage(c.r.Context(), c.user.ID, ch, mid, req)
		return http.StatusOK, m, err
	})
	s.handle("POST /channels/{channel}/messages/{message}/ack", true, "channel", func(c *call) (int, any, error) {
		ch, mid, err := channelMessage(c)
		if err != nil {
			return 0, nil, err
		}
		var req struct {
			Token *string `json:"token"` // Discord's ack token; none is issued
		}
		if err := decode(c, &req); err != nil {
			return 0, nil, err
		}
		if err := svc.Ack(c.r.Context(), c.user.ID, ch, mid); err != nil {
			return 0, nil, err
		}
		return http.StatusOK, map[string]any{"token": nil}, nil
	})
	s.handle("DELETE /channels/{channel}/messages/{message}", true, "channel", func(c *call) (int, any, error) {
		ch, mid, err := channelMessage(c)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusNoContent, nil, svc.DeleteMessage(c.r.Context(), c.user.ID, ch, mid)
	})
	s.handle("POST /channels/{channel}/typing", true, "channel", func(c *call) (int, any, error) {
		id, err := pathID(c, "channel")
		if err != nil {
			return 0, nil, err
		}
		return http.StatusNoContent, nil, svc.Typing(c.user.ID, id)
	})
}

func channelMessage(c *call) (model.Snowflake, model.Snowflake, error) {
	ch, err := pathID(c, "channel")
	if err != nil {
		return 0, 0, err
	}
	m, err := pathID(c, "message")
	return ch, m, err
}
