package store_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/chat/store"
)

// TestMessageAttachments: a message keeps its attachment records (not
// URLs) through create, read, list and edit.
func TestMessageAttachments(t *testing.T) {
	ctx := context.Background()
	gen := model.NewGenerator(1, 2)
	eachEngine(t, func(t *testing.T, s store.Store) {
		channel := gen.Next()
		w, h, desc := 640, 480, "a cat"
		atts := []model.Attachment{
			{ID: gen.Next(), Filename: "cat.png", Description: &desc, ContentType: "image/png", Size: 1234, Width: &w, Height: &h,
				Ref: "c/1/cat.png", URL: "http://signed/never/stored"},
			{ID: gen.Next(), Filename: "notes.txt", ContentType: "text/plain", Size: 5, Ref: "c/2/notes.txt"},
		}
		m := model.Message{ID: gen.Next(), ChannelID: channel, AuthorID: 7, Attachments: atts}
		if err := s.CreateMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
		want := append([]model.Attachment(nil), atts...)
		want[0].URL = ""
		got, err := s.GetMessage(ctx, store.KeyOf(channel, m.ID))
		if err != nil || !reflect.DeepEqual(got.Attachments, want) {
			t.Fatalf("GetMessage attachments = %+v, %v; want %+v", got.Attachments, err, want)
		}
		list, err := s.ListMessages(ctx, channel, store.Page{})
		if err != nil || len(list) != 1 || !reflect.DeepEqual(list[0].Attachments, want) {
			t.Fatalf("ListMessages = %+v, %v", list, err)
		}
		got.Content, got.Attachments = "edited", want[1:]
		if err := s.UpdateMessage(ctx, got); err != nil {
			t.Fatal(err)
		}
		if again, err := s.GetMessage(ctx, store.KeyOf(channel, m.ID)); err != nil || !reflect.DeepEqual(again.Attachments, want[1:]) {
			t.Fatalf("after edit: %+v, %v", again.Attachments, err)
		}
		plain := model.Message{ID: gen.Next(), ChannelID: channel, AuthorID: 7, Content: "no files"}
		if err := s.CreateMessage(ctx, plain); err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetMessage(ctx, store.KeyOf(channel, plain.ID)); err != nil || got.Attachments != nil {
			t.Fatalf("a message without attachments: %+v, %v", got.Attachments, err)
		}
	})
}

// TestReadStates: acks are kept per (user, channel), only move forward,
// and go with their channel; mention counts look only after the ack.
func TestReadStates(t *testing.T) {
	ctx := context.Background()
	gen := model.NewGenerator(1, 3)
	eachEngine(t, func(t *testing.T, s store.Store) {
		const alice, bob model.Snowflake = 10, 11
		ch1, ch2 := gen.Next(), gen.Next()
		for _, c := range []model.Snowflake{ch1, ch2} {
			if err := s.PutChannel(ctx, model.Channel{ID: c, GuildID: 1, Name: "c", PermissionOverwrites: []model.Overwrite{}}); err != nil {
				t.Fatal(err)
			}
		}
		var ids []model.Snowflake
		for i := range 6 {
			m := model.Message{ID: gen.Next(), ChannelID: ch1, AuthorID: bob, Content: "x"}
			switch i {
			case 1, 4:
				m.Mentions = []model.User{{ID: alice}}
			case 5:
				m.MentionEveryone = true
			}
			if err := s.CreateMessage(ctx, m); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, m.ID)
		}
		steps := []struct {
			name      string
			user, ch  model.Snowflake
			msg       model.Snowflake
			wantMoved bool
		}{
			{"first ack", alice, ch1, ids[2], true},
			{"older ack", alice, ch1, ids[1], false},
			{"same ack", alice, ch1, ids[2], false},
			{"newer ack", alice, ch1, ids[3], true},
			{"other channel", alice, ch2, ids[0], true},
			{"other user", bob, ch1, ids[5], true},
		}
		for _, st := range steps {
			moved, err := s.AckMessage(ctx, st.user, st.ch, st.msg)
			if err != nil || moved != st.wantMoved {
				t.Fatalf("%s: moved %v, %v; want %v", st.name, moved, err, st.wantMoved)
			}
		}
		rs, err := s.ReadStates(ctx, alice)
		want := []store.ReadState{{ChannelID: ch1, LastMessageID: ids[3]}, {ChannelID: ch2, LastMessageID: ids[0]}}
		if err != nil || !reflect.DeepEqual(rs, want) {
			t.Fatalf("ReadStates = %+v, %v; want %+v", rs, err, want)
		}
		for _, tc := range []struct {
			after     model.Snowflake
			scan, hit int
		}{{ids[3], 100, 2}, {ids[0], 100, 3}, {ids[0], 1, 1}, {ids[5], 100, 0}} {
			if n, err := s.MentionCount(ctx, ch1, tc.after, alice, tc.scan); err != nil || n != tc.hit {
				t.Errorf("MentionCount(after %d, scan %d) = %d, %v; want %d", tc.after, tc.scan, n, err, tc.hit)
			}
		}
		if err := s.DeleteChannel(ctx, ch1); err != nil {
			t.Fatal(err)
		}
		if rs, err := s.ReadStates(ctx, alice); err != nil || len(rs) != 1 || rs[0].ChannelID != ch2 {
			t.Fatalf("after deleting the channel: %+v, %v", rs, err)
		}
	})
}
