package voiceproto

import "testing"

func TestClassify(t *testing.T) {
	disc := make([]byte, 74)
	disc[1], disc[3] = 1, 70
	resp := append([]byte(nil), disc...)
	resp[1] = 2
	rtcp := append([]byte{0x80, 0xC8}, make([]byte, 30)...)
	tests := []struct {
		name string
		in   []byte
		want Kind
	}{
		{"discovery", disc, KindDiscovery},
		{"discovery_response", resp, KindDiscoveryResponse},
		{"discovery_wrong_len", disc[:73], KindUnknown},
		{"keepalive_discordjs", []byte{1, 0, 0, 0, 0, 0, 0, 0}, KindKeepalive},
		{"keepalive_rtp_looking", []byte{0x80, 0x78, 0, 0, 0, 0, 0, 0}, KindKeepalive},
		{"rtp_opus", pkt{pt: 120, payload: []byte{1}}.build(), KindRTP},
		{"rtp_ext", pkt{pt: 120, ext: true, profile: ExtProfileOneByte}.build(), KindRTP},
		{"rtp_marker", pkt{pt: 120, marker: true}.build(), KindRTP},
		{"rtcp_sr", rtcp, KindRTCP},
		{"rtcp_rr", append([]byte{0x81, 201}, make([]byte, 30)...), KindRTCP},
		{"rtcp_app", append([]byte{0x80, 204}, make([]byte, 30)...), KindRTCP},
		{"rtcp_205_rtpfb", append([]byte{0x80, 205}, make([]byte, 30)...), KindRTCP},
		{"rtcp_206_psfb", append([]byte{0x80, 206}, make([]byte, 30)...), KindRTCP},
		{"rtp_207", append([]byte{0x80, 207}, make([]byte, 30)...), KindRTP},
		{"rtp_74_bytes", append([]byte{0x80, 0x78}, make([]byte, 72)...), KindRTP},
		{"short", []byte{0x80, 0x78, 0, 0}, KindUnknown},
		{"empty", nil, KindUnknown},
		{"version1", append([]byte{0x40, 0x78}, make([]byte, 30)...), KindUnknown},
	}
	for _, tt := range tests {
		if got := Classify(tt.in); got != tt.want {
			t.Errorf("%s: Classify = %v, want %v", tt.name, got, tt.want)
		}
	}
	for k := KindUnknown; k <= KindRTP+1; k++ {
		if k.String() == "" {
			t.Errorf("Kind(%d) has no name", k)
		}
	}
	if Kind(200).String() != "unknown" {
		t.Error("out-of-range Kind name")
	}
}

func FuzzClassify(f *testing.F) {
	f.Add([]byte{0x80, 0x78, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add(make([]byte, 74))
	f.Add(make([]byte, 8))
	f.Fuzz(func(t *testing.T, b []byte) {
		k := Classify(b)
		if k > KindRTP {
			t.Fatalf("kind %d out of range", k)
		}
		if (k == KindRTP || k == KindRTCP) && (len(b) < 12 || b[0]>>6 != 2) {
			t.Fatalf("%v for %x", k, b)
		}
	})
}
