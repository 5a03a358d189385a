package dave

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func TestOpcodeNames(t *testing.T) {
	if OpPrepareTransition.String() != "dave_protocol_prepare_transition" || Opcode(99).String() != "opcode(99)" {
		t.Fatal("String")
	}
	server := map[Opcode]bool{21: true, 22: true, 24: true, 25: true, 27: true, 29: true, 30: true}
	for op := Opcode(20); op <= 32; op++ {
		if op.FromServer() != server[op] {
			t.Errorf("%v FromServer = %v", op, op.FromServer())
		}
		if op.IsBinary() != (op >= 25 && op <= 30) || op.IsDAVE() != (op >= 21 && op <= 31) {
			t.Errorf("%v classification", op)
		}
	}
}

func TestJSONOpcodes(t *testing.T) {
	tests := []struct {
		op   Opcode
		d    string
		want Message
	}{
		{OpPrepareTransition, `{"protocol_version":1,"transition_id":7}`, PrepareTransition{ProtocolVersion: 1, TransitionID: 7}},
		{OpExecuteTransition, `{"transition_id":7}`, ExecuteTransition{TransitionID: 7}},
		{OpReadyForTransition, `{"transition_id":65535,"extra":true}`, ReadyForTransition{TransitionID: 65535}},
		{OpPrepareEpoch, `{"protocol_version":1,"epoch":1}`, PrepareEpoch{ProtocolVersion: 1, Epoch: 1}},
		{OpInvalidCommitWelcome, `{"transition_id":3}`, InvalidCommitWelcome{TransitionID: 3}},
	}
	for _, tc := range tests {
		t.Run(tc.op.String(), func(t *testing.T) {
			m, err := DecodeJSON(tc.op, []byte(tc.d))
			if err != nil || m != tc.want || m.Opcode() != tc.op {
				t.Fatalf("got %#v, %v", m, err)
			}
			enc, _ := json.Marshal(m)
			back, err := DecodeJSON(tc.op, enc)
			if err != nil || back != tc.want {
				t.Fatalf("round trip %s: %#v %v", enc, back, err)
			}
		})
	}
	if _, err := DecodeJSON(OpProposals, []byte(`{}`)); !errors.Is(err, ErrUnknownOpcode) {
		t.Fatalf("binary op as JSON: %v", err)
	}
	if _, err := DecodeJSON(OpExecuteTransition, []byte(`{"transition_id":70000}`)); err == nil {
		t.Fatal("transition_id over u16 accepted")
	}
}

func TestBinaryOpcodes(t *testing.T) {
	key := append([]byte{0x04}, bytes.Repeat([]byte{0x11}, 64)...)
	ref1, ref2 := bytes.Repeat([]byte{0xaa}, 32), bytes.Repeat([]byte{0xbb}, 32)
	revoke, err := RevokeProposals(ref1, ref2)
	if err != nil {
		t.Fatal(err)
	}
	kp := append([]byte{0, 1, 0, 2}, bytes.Repeat([]byte{0x33}, 20)...)
	tests := []struct {
		name    string
		m       BinaryMessage
		payload []byte // expected encoding (nil: not checked)
	}{
		{"external-sender", ExternalSenderPackage{SignatureKey: key, CredentialType: 1, Identity: []byte{0, 0, 0, 0, 0, 0, 0, 0}},
			append(append([]byte{0x40, 0x41}, key...), 0x00, 0x01, 0x08, 0, 0, 0, 0, 0, 0, 0, 0)},
		{"key-package", KeyPackageMessage{KeyPackage: kp}, kp},
		{"proposals-append", AppendProposals([]byte{0, 1, 0, 1, 9}, []byte{0, 1, 0, 1, 8}), []byte{0, 10, 0, 1, 0, 1, 9, 0, 1, 0, 1, 8}},
		{"proposals-revoke", revoke, append(append(append([]byte{1, 0x40, 66, 32}, ref1...), 32), ref2...)},
		{"commit-welcome", CommitWelcome{Data: []byte{0, 1, 0, 1, 5, 6}}, []byte{0, 1, 0, 1, 5, 6}},
		{"announce-commit", AnnounceCommitTransition{TransitionID: 0x1234, Commit: []byte{0, 1, 0, 1}}, []byte{0x12, 0x34, 0, 1, 0, 1}},
		{"welcome", WelcomeMessage{TransitionID: 9, Welcome: []byte{0, 2, 7}}, []byte{0, 9, 0, 2, 7}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tc.m.AppendPayload(nil)
			if err != nil || !bytes.Equal(p, tc.payload) {
				t.Fatalf("payload %x, %v\nwant    %x", p, err, tc.payload)
			}
			var got BinaryMessage
			if tc.m.Opcode().FromServer() {
				f, err := AppendServerFrame(nil, 0xBEEF, tc.m)
				if err != nil || f[0] != 0xBE || f[1] != 0xEF || Opcode(f[2]) != tc.m.Opcode() {
					t.Fatalf("frame %x, %v", f, err)
				}
				seq, m, err := DecodeServerFrame(f)
				if err != nil || seq != 0xBEEF {
					t.Fatalf("decode: %d %v", seq, err)
				}
				got = m
				if _, err := DecodeClientFrame(f[2:]); !errors.Is(err, ErrWrongDirection) {
					t.Fatalf("server op in client frame: %v", err)
				}
				if _, err := AppendClientFrame(nil, tc.m); !errors.Is(err, ErrWrongDirection) {
					t.Fatalf("AppendClientFrame: %v", err)
				}
			} else {
				f, err := AppendClientFrame(nil, tc.m)
				if err != nil || Opcode(f[0]) != tc.m.Opcode() {
					t.Fatalf("frame %x, %v", f, err)
				}
				got, err = DecodeClientFrame(f)
				if err != nil {
					t.Fatal(err)
				}
				if _, _, err := DecodeServerFrame(append([]byte{0, 1}, f...)); !errors.Is(err, ErrWrongDirection) {
					t.Fatalf("client op in server frame: %v", err)
				}
				if _, err := AppendServerFrame(nil, 1, tc.m); !errors.Is(err, ErrWrongDirection) {
					t.Fatalf("AppendServerFrame: %v", err)
				}
			}
			if !reflect.DeepEqual(got, tc.m) {
				t.Fatalf("decoded %#v\nwant    %#v", got, tc.m)
			}
		})
	}
	refs, err := revoke.Refs()
	if err != nil || len(refs) != 2 || !bytes.Equal(refs[1], ref2) {
		t.Fatalf("Refs: %x %v", refs, err)
	}
}

func TestBinaryDecodeErrors(t *testing.T) {
	tests := []struct {
		name   string
		server bool
		frame  []byte
		err    error
	}{
		{"empty-client", false, nil, ErrShortMessage},
		{"short-server", true, []byte{0, 1}, ErrShortMessage},
		{"json-op-binary", false, []byte{23}, ErrUnknownOpcode},
		{"unknown-op", true, []byte{0, 1, 99}, ErrUnknownOpcode},
		{"key-package-short", false, []byte{26, 0, 1}, ErrField},
		{"key-package-wrong-version", false, []byte{26, 0, 2, 0, 2}, ErrField},
		{"key-package-mls-message-empty", false, []byte{26, 0, 1, 0, 5}, ErrShortMessage},
		{"commit-empty", false, []byte{28}, ErrShortMessage},
		{"ext-sender-bad-varint", true, []byte{0, 1, 25, 0xc0}, ErrVarint},
		{"ext-sender-non-minimal", true, []byte{0, 1, 25, 0x40, 0x01, 0}, ErrVarint},
		{"ext-sender-truncated", true, []byte{0, 1, 25, 0x05, 1, 2}, ErrShortMessage},
		{"ext-sender-no-credential", true, []byte{0, 1, 25, 0x01, 1, 0}, ErrShortMessage},
		{"ext-sender-trailing", true, []byte{0, 1, 25, 0x01, 1, 0, 1, 0, 9}, ErrTrailingData},
		{"proposals-bad-op", true, []byte{0, 1, 27, 2, 0}, ErrField},
		{"proposals-trailing", true, []byte{0, 1, 27, 0, 1, 5, 6}, ErrTrailingData},
		{"proposals-short", true, []byte{0, 1, 27}, ErrShortMessage},
		{"announce-short", true, []byte{0, 1, 29, 0, 1}, ErrShortMessage},
		{"welcome-short", true, []byte{0, 1, 30, 0}, ErrShortMessage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.server {
				_, _, err = DecodeServerFrame(tc.frame)
			} else {
				_, err = DecodeClientFrame(tc.frame)
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
		})
	}
	// An MLSMessage-wrapped key package is unwrapped.
	m, err := DecodeClientFrame([]byte{26, 0, 1, 0, 5, 0, 1, 0, 2, 7})
	if err != nil || !bytes.Equal(m.(KeyPackageMessage).KeyPackage, []byte{0, 1, 0, 2, 7}) {
		t.Fatalf("wrapped key package: %#v %v", m, err)
	}
	if _, err := (ProposalsMessage{Op: ProposalsAppend}).Refs(); !errors.Is(err, ErrField) {
		t.Fatalf("Refs of append: %v", err)
	}
	if _, err := (ProposalsMessage{Op: ProposalsRevoke, Data: []byte{5, 1}}).Refs(); !errors.Is(err, ErrShortMessage) {
		t.Fatalf("Refs of truncated: %v", err)
	}
	if _, err := (ProposalsMessage{Op: 7}).AppendPayload(nil); !errors.Is(err, ErrField) {
		t.Fatalf("bad op encode: %v", err)
	}
}

func TestVarint(t *testing.T) {
	for _, v := range []int{0, 1, 63, 64, 16383, 16384, maxVarint} {
		enc := appendVarint(nil, v)
		got, n, err := readVarint(enc)
		if err != nil || got != v || n != len(enc) {
			t.Fatalf("%d: %x -> %d %d %v", v, enc, got, n, err)
		}
	}
	for _, bad := range [][]byte{{0xc0}, {0x40, 0x3f}, {0x80, 0, 0x3f, 0xff}, {0x40}, {0x80, 0, 0}} {
		if _, _, err := readVarint(bad); err == nil {
			t.Fatalf("%x accepted", bad)
		}
	}
}

// FuzzDecodeFrames: binary frame decoders never panic, and accepted frames
// re-encode to the same bytes (except unwrapped MLSMessage key packages).
func FuzzDecodeFrames(f *testing.F) {
	f.Add(true, []byte{0, 1, 25, 0x01, 1, 0, 1, 0})
	f.Add(true, []byte{0, 1, 27, 1, 3, 2, 0xaa, 0xbb})
	f.Add(true, []byte{0, 1, 29, 0, 1, 0, 1, 0, 1})
	f.Add(false, []byte{26, 0, 1, 0, 2, 9})
	f.Add(false, []byte{26, 0, 1, 0, 5, 0, 1, 0, 2})
	f.Add(false, []byte{28, 0, 1, 0, 1})
	f.Fuzz(func(t *testing.T, server bool, frame []byte) {
		if server {
			seq, m, err := DecodeServerFrame(frame)
			if err != nil {
				return
			}
			out, err := AppendServerFrame(nil, seq, m)
			if err != nil || !bytes.Equal(out, frame) {
				t.Fatalf("re-encode %x -> %x (%v)", frame, out, err)
			}
			if p, ok := m.(ProposalsMessage); ok && p.Op == ProposalsRevoke {
				_, _ = p.Refs()
			}
			return
		}
		m, err := DecodeClientFrame(frame)
		if err != nil {
			return
		}
		out, err := AppendClientFrame(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, frame) && !(len(frame) > 4 && frame[0] == 26 && frame[3] == 0 && frame[4] == 5) {
			t.Fatalf("re-encode %x -> %x", frame, out)
		}
	})
}

// FuzzDecodeJSON: JSON decoders never panic.
func FuzzDecodeJSON(f *testing.F) {
	f.Add(uint8(21), []byte(`{"protocol_version":1,"transition_id":3}`))
	f.Add(uint8(24), []byte(`{"protocol_version":1,"epoch":1}`))
	f.Add(uint8(31), []byte(`{"transition_id":"x"}`))
	f.Fuzz(func(t *testing.T, op uint8, d []byte) {
		m, err := DecodeJSON(Opcode(op), d)
		if err == nil && m.Opcode() != Opcode(op) {
			t.Fatalf("opcode %v for %d", m.Opcode(), op)
		}
	})
}
