package signaling

import (
	"encoding/json"
	"testing"
)

func TestSpeakingFlags(t *testing.T) {
	tests := []struct {
		in      string
		want    int
		wantErr bool
	}{
		{`{"speaking":1}`, 1, false},
		{`{"speaking":5,"delay":0,"ssrc":9}`, 5, false},
		{`{"speaking":true}`, 1, false},
		{`{"speaking":false}`, 0, false},
		{`{}`, 0, false},
		{`{"speaking":"yes"}`, 0, true},
		{`{"speaking":-1}`, 0, true},
		{`{"speaking":1e9}`, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			var s speaking
			if err := json.Unmarshal([]byte(tc.in), &s); err != nil {
				t.Fatal(err)
			}
			got, err := s.flags()
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("flags() = %d, %v; want %d, err %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestFlexString(t *testing.T) {
	var id identify
	if err := json.Unmarshal([]byte(`{"server_id":123,"user_id":"456","session_id":"s"}`), &id); err != nil {
		t.Fatal(err)
	}
	if id.ServerID != "123" || id.UserID != "456" {
		t.Fatalf("%+v", id)
	}
	if err := json.Unmarshal([]byte(`{"server_id":[1]}`), &id); err == nil {
		t.Fatal("array id accepted")
	}
}

func TestParseDialect(t *testing.T) {
	for in, want := range map[string]Dialect{"": DialectLegacy, "3": DialectLegacy, "4": DialectV4, "7": DialectV4, "8": DialectV8} {
		if got, err := ParseDialect(in); err != nil || got != want {
			t.Errorf("ParseDialect(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"0", "9", "x", "-1"} {
		if _, err := ParseDialect(in); err == nil {
			t.Errorf("ParseDialect(%q) accepted", in)
		}
	}
}

// FuzzClientMessage feeds arbitrary client frames through every decoder the
// gateway applies; none may panic.
func FuzzClientMessage(f *testing.F) {
	for _, s := range []string{
		`{"op":0,"d":{"server_id":"1","user_id":"2","session_id":"s","token":"t","max_dave_protocol_version":1}}`,
		`{"op":1,"d":{"protocol":"udp","data":{"address":"127.0.0.1","port":5,"mode":"aead_aes256_gcm_rtpsize"}}}`,
		`{"op":3,"d":{"t":1,"seq_ack":2}}`, `{"op":3,"d":5}`,
		`{"op":5,"d":{"speaking":true,"delay":0}}`,
		`{"op":7,"d":{"server_id":1,"session_id":"s","token":"t","seq_ack":-1}}`,
		`{"op":`, `[]`, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m inbound
		if json.Unmarshal(data, &m) != nil {
			return
		}
		var (
			id identify
			r  resume
			sp selectProtocol
			s  speaking
			hb heartbeatV8
		)
		_ = json.Unmarshal(m.D, &id)
		_ = json.Unmarshal(m.D, &r)
		_ = json.Unmarshal(m.D, &sp)
		_ = json.Unmarshal(m.D, &hb)
		if json.Unmarshal(m.D, &s) == nil {
			_, _ = s.flags()
		}
	})
}
