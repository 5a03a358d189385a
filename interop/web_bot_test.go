package interop

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/testkit"
)

// webBot is a discord.js 14 bot (interop/node/chat/webbot.mjs) logged in
// to the plain api listener, as bots are: it reports READY and every
// message from someone else, and replies when told to.
type webBot struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{} // closed when stdout ends
	ready botEvent      // its READY: its user id, guilds and channels

	mu     sync.Mutex
	events []botEvent // +checklocks:mu
}

// botEvent is one line webbot.mjs printed.
type botEvent struct {
	Event   string `json:"event"`
	Error   string `json:"error"`
	Where   string `json:"where"`
	User    string `json:"user"`
	Guilds  []guild
	ID      string `json:"id"`
	Content string `json:"content"`
	Channel string `json:"channel"`
	Author  string `json:"author"`
	// Attachments are as discord.js's Attachment shows them.
	Attachments []struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		URL         string `json:"url"`
		ProxyURL    string `json:"proxy_url"`
		Width       int    `json:"width"`
		Height      int    `json:"height"`
		ContentType string `json:"content_type"`
		Size        int    `json:"size"`
	} `json:"attachments"`
}

// startWebBot starts the bot with token against the server's api
// listener and waits for its READY.
func startWebBot(t *testing.T, srv *parleyServer, token string) *webBot {
	t.Helper()
	node := nodeBinary(t, "discord.js")
	b := &webBot{t: t, done: make(chan struct{})}
	b.cmd = exec.Command(node, repoFile(t, "node/chat/webbot.mjs"), "http://"+srv.addr("api")+"/api", token)
	b.cmd.Dir = repoFile(t, "node")
	b.cmd.Env = append(os.Environ(), "NODE_NO_WARNINGS=1")
	stderr := &lineWriter{t: t, prefix: "discord.js bot stderr"}
	b.cmd.Stderr = stderr
	stdout, err := b.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if b.stdin, err = b.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Start(); err != nil {
		missingClient(t, "node: %v", err)
	}
	go b.read(stdout)
	t.Cleanup(func() {
		_ = b.stdin.Close() // the bot exits
		exited := make(chan struct{})
		go func() { _ = b.cmd.Wait(); close(exited) }()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = b.cmd.Process.Kill()
			<-exited
		}
		<-b.done
		stderr.stop()
	})
	b.ready = b.wait("ready", 30*time.Second, "the discord.js bot is ready", nil)
	return b
}

func (b *webBot) read(r io.Reader) {
	defer close(b.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e botEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			b.t.Logf("discord.js bot stdout: %s", sc.Bytes())
			continue
		}
		b.mu.Lock()
		b.events = append(b.events, e)
		b.mu.Unlock()
	}
}

// wait returns the first event named kind that match accepts (nil: any),
// failing the test with what (the step) on a timeout or an error event.
func (b *webBot) wait(kind string, timeout time.Duration, what string, match func(botEvent) bool) botEvent {
	b.t.Helper()
	var got botEvent
	var failed *botEvent
	ok := testkit.Poll(timeout, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		if i := slices.IndexFunc(b.events, func(e botEvent) bool { return e.Event == "error" }); i >= 0 {
			failed = &b.events[i]
			return true
		}
		i := slices.IndexFunc(b.events, func(e botEvent) bool { return e.Event == kind && (match == nil || match(e)) })
		if i >= 0 {
			got = b.events[i]
		}
		return i >= 0
	})
	switch {
	case failed != nil:
		b.t.Fatalf("%s: the discord.js bot failed (%s): %s", what, failed.Where, failed.Error)
	case !ok:
		b.mu.Lock()
		defer b.mu.Unlock()
		b.t.Fatalf("%s: no %q from the discord.js bot within %v; it said %+v", what, kind, timeout, b.events)
	}
	return got
}

// reply has the bot reply to message id with content.
func (b *webBot) reply(id, content string) {
	b.t.Helper()
	line, _ := json.Marshal(map[string]string{"reply": id, "content": content})
	if _, err := fmt.Fprintf(b.stdin, "%s\n", line); err != nil {
		b.t.Fatalf("discord.js bot: %v", err)
	}
}
