package voiceclient

import (
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parleyhq/parley/voiceproto"
)

// fakeServer is a minimal voice server for testing the client's side of
// the protocol in isolation (the real server is exercised by package
// interop). It forwards each received Opus frame back to the sender under
// echoSSRC, announced as user "echo" by op 5 after announceAfter frames.
type fakeServer struct {
	t      *testing.T
	http   *httptest.Server
	udp    *net.UDPConn
	key    []byte
	modes  []string
	cipher *voiceproto.Cipher

	wmu sync.Mutex // serializes WebSocket writes

	mu            sync.Mutex
	ws            []*websocket.Conn
	identifies    int
	resumes       []voiceproto.Resume
	speaking      []json.RawMessage
	heartbeats    int
	received      [][]byte
	client        *net.UDPAddr
	seq           int64
	announceAfter int
	announced     bool
	nonce         voiceproto.ServerNonce
	paths         []string
	// daveVersion is op 4's dave_protocol_version; with 1 the fake sends
	// op 11 before op 4 (as Parley does) and ignores binary frames, so a
	// DAVE client never gets keys.
	daveVersion int
	// closeDelay, if set, delays the answer to the client's close frame;
	// closeCode, echoAt and eofAt record the close, the answer and when
	// the client closed the TCP connection.
	closeDelay  time.Duration
	closeCode   int
	closeAnswer *time.Timer // sends the answer after closeDelay
	echoAt      time.Time
	eofAt       time.Time
}

const echoSSRC = 4242

func newFakeServer(t *testing.T, modes []string) *fakeServer {
	t.Helper()
	s := &fakeServer{t: t, key: make([]byte, 32), modes: modes}
	for i := range s.key {
		s.key[i] = byte(i * 7)
	}
	var err error
	s.udp, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	up := websocket.Upgrader{}
	s.http = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		s.mu.Lock()
		s.ws = append(s.ws, ws)
		s.paths = append(s.paths, r.URL.RequestURI())
		s.mu.Unlock()
		s.serveWS(ws)
	}))
	go s.serveUDP()
	t.Cleanup(func() {
		s.mu.Lock()
		if s.closeAnswer != nil {
			s.closeAnswer.Stop()
		}
		s.mu.Unlock()
		s.http.CloseClientConnections()
		s.http.Close()
		s.udp.Close()
	})
	return s
}

func (s *fakeServer) endpoint() string { return strings.TrimPrefix(s.http.URL, "https://") }

func (s *fakeServer) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(s.http.Certificate())
	return p
}

func (s *fakeServer) write(ws *websocket.Conn, op voiceproto.Op, d any) {
	s.mu.Lock()
	s.seq++
	b, _ := json.Marshal(map[string]any{"op": op, "d": d, "seq": s.seq})
	s.mu.Unlock()
	s.wmu.Lock()
	_ = ws.WriteMessage(websocket.TextMessage, b)
	s.wmu.Unlock()
}

func (s *fakeServer) serveWS(ws *websocket.Conn) {
	send := func(op voiceproto.Op, d any) { s.write(ws, op, d) }
	s.mu.Lock()
	delay := s.closeDelay
	s.mu.Unlock()
	if delay > 0 {
		ws.SetCloseHandler(func(code int, _ string) error {
			// The delay is the slow server under test, not
			// synchronisation; the cleanup stops an answer not yet due.
			answer := time.AfterFunc(delay, func() {
				s.mu.Lock()
				s.echoAt = time.Now()
				s.mu.Unlock()
				s.wmu.Lock()
				_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(time.Second))
				s.wmu.Unlock()
			})
			s.mu.Lock()
			s.closeCode, s.closeAnswer = code, answer
			s.mu.Unlock()
			return nil
		})
	}
	send(voiceproto.OpHello, map[string]any{"heartbeat_interval": 100.5})
	for {
		typ, data, err := ws.ReadMessage()
		if err != nil {
			if delay > 0 { // when does the client close the TCP connection?
				buf := make([]byte, 512)
				for {
					if _, err := ws.UnderlyingConn().Read(buf); err != nil {
						break
					}
				}
				s.mu.Lock()
				s.eofAt = time.Now()
				s.mu.Unlock()
			}
			return
		}
		if typ == websocket.BinaryMessage {
			continue // DAVE key package: this fake is no DAVE gateway
		}
		var m voiceproto.RawMessage
		if err := json.Unmarshal(data, &m); err != nil {
			s.t.Errorf("fake: bad json %s", data)
			return
		}
		switch m.Op {
		case voiceproto.OpIdentify:
			s.mu.Lock()
			s.identifies++
			s.mu.Unlock()
			port := s.udp.LocalAddr().(*net.UDPAddr).Port
			send(voiceproto.OpReady, map[string]any{"ssrc": 77, "ip": "127.0.0.1", "port": port, "modes": s.modes, "heartbeat_interval": 100.5})
		case voiceproto.OpSelectProtocol:
			var sp voiceproto.SelectProtocol
			_ = json.Unmarshal(m.D, &sp)
			c, err := voiceproto.NewCipher(sp.Data.Mode, s.key)
			if err != nil {
				s.t.Errorf("fake: mode %q: %v", sp.Data.Mode, err)
				return
			}
			s.mu.Lock()
			s.cipher = c
			s.mu.Unlock()
			k := make([]int, 32)
			for i, v := range s.key {
				k[i] = int(v)
			}
			s.mu.Lock()
			dv := s.daveVersion
			s.mu.Unlock()
			if dv > 0 {
				send(voiceproto.OpClientsConnect, map[string]any{"user_ids": []string{"echo"}})
			}
			send(voiceproto.OpSessionDescription, map[string]any{"mode": sp.Data.Mode, "secret_key": k, "dave_protocol_version": dv})
			if dv == 0 {
				send(voiceproto.OpClientsConnect, map[string]any{"user_ids": []string{"echo"}})
			}
		case voiceproto.OpHeartbeat:
			var hb voiceproto.Heartbeat
			_ = json.Unmarshal(m.D, &hb)
			s.mu.Lock()
			s.heartbeats++
			s.mu.Unlock()
			send(voiceproto.OpHeartbeatACK, map[string]any{"t": hb.T})
		case voiceproto.OpSpeaking:
			s.mu.Lock()
			s.speaking = append(s.speaking, append(json.RawMessage(nil), m.D...))
			s.mu.Unlock()
		case voiceproto.OpResume:
			var r voiceproto.Resume
			_ = json.Unmarshal(m.D, &r)
			s.mu.Lock()
			s.resumes = append(s.resumes, r)
			s.mu.Unlock()
			send(voiceproto.OpResumed, nil)
		}
	}
}

func (s *fakeServer) lastWS() *websocket.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ws[len(s.ws)-1]
}

func (s *fakeServer) serveUDP() {
	buf := make([]byte, 2048)
	for {
		n, from, err := s.udp.ReadFromUDP(buf)
		if err != nil {
			return
		}
		pkt := buf[:n]
		switch voiceproto.Classify(pkt) {
		case voiceproto.KindDiscovery:
			resp := make([]byte, 74)
			binary.BigEndian.PutUint16(resp, 2)
			binary.BigEndian.PutUint16(resp[2:], 70)
			copy(resp[4:8], pkt[4:8])
			copy(resp[8:], from.IP.String())
			binary.BigEndian.PutUint16(resp[72:], uint16(from.Port))
			_, _ = s.udp.WriteToUDP(resp, from)
		case voiceproto.KindRTP:
			s.echo(pkt, from)
		}
	}
}

// echo decrypts, records and reflects a frame under echoSSRC.
func (s *fakeServer) echo(pkt []byte, from *net.UDPAddr) {
	s.mu.Lock()
	c := s.cipher
	s.client = from
	s.mu.Unlock()
	if c == nil {
		return
	}
	clear, err := c.Open(nil, pkt)
	if err != nil {
		s.t.Errorf("fake: open: %v", err)
		return
	}
	h, err := voiceproto.ParseHeader(clear)
	if err != nil {
		s.t.Errorf("fake: header: %v", err)
		return
	}
	s.mu.Lock()
	s.received = append(s.received, append([]byte(nil), clear[h.PayloadStart:h.PayloadEnd]...))
	announce := !s.announced && len(s.received) > s.announceAfter
	if announce {
		s.announced = true
	}
	nonce, _ := s.nonce.Next()
	s.mu.Unlock()
	binary.BigEndian.PutUint32(clear[8:], echoSSRC)
	wire, err := c.Seal(nil, clear, nonce)
	if err != nil {
		s.t.Errorf("fake: seal: %v", err)
		return
	}
	_, _ = s.udp.WriteToUDP(wire, from)
	if announce {
		s.write(s.lastWS(), voiceproto.OpSpeaking, map[string]any{"user_id": "echo", "ssrc": echoSSRC, "speaking": 1})
	}
}
