package dave

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// TestKeyRatchetVector checks the dave.md §6 test vector (Snazzah/davey
// davey/src/cryptor/hash_ratchet.rs): generation 0 matches davey exactly;
// generation 1 is the dave.md value computed from the same formulas.
func TestKeyRatchetVector(t *testing.T) {
	tests := []struct {
		gen uint32
		key string
	}{
		{0, "7530f9a9945e2d2e06d0651f7b2a864b"},
		{1, "cddd06e0f3437596bacb9c06a0329c49"},
	}
	for _, tc := range tests {
		r := testRatchet(t)
		k, err := r.Key(tc.gen)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(k, unhex(t, tc.key)) {
			t.Errorf("gen %d: key %x, want %s", tc.gen, k, tc.key)
		}
	}
}

func TestKeyRatchetOrderAndErase(t *testing.T) {
	r := testRatchet(t)
	k5, err := r.Key(5)
	if err != nil {
		t.Fatal(err)
	}
	k5 = bytes.Clone(k5)
	k2, err := r.Key(2) // cached on the way to 5
	if err != nil || len(k2) != KeySize {
		t.Fatalf("key 2: %x %v", k2, err)
	}
	fresh := testRatchet(t)
	f5, _ := fresh.Key(5)
	if !bytes.Equal(k5, f5) {
		t.Fatal("ratchet result depends on access order")
	}
	r.Erase(2)
	if _, err := r.Key(2); !errors.Is(err, ErrGenerationExpired) {
		t.Fatalf("erased key: err %v", err)
	}
	if _, err := r.Key(5 + maxRatchetStep + 2); !errors.Is(err, ErrGenerationTooNew) {
		t.Fatalf("far key: err %v", err)
	}
	if _, err := NewKeyRatchet(make([]byte, 15)); !errors.Is(err, ErrSecretSize) {
		t.Fatalf("short base: err %v", err)
	}
}

// TestSecretExporter checks MLS-Exporter against the mlswg
// key-schedule.json vectors for cipher suite 2 (shared/testvectors/mls).
// The vectors use the label's hex text itself as the label string and the
// hex-decoded context (checked: only this reading matches all epochs).
func TestSecretExporter(t *testing.T) {
	vectors := []struct {
		label, context       string
		length               int
		exporterSecret, want string
	}{
		{"9ba13d54ecdec7cbefcb47b4268d7b1990fabc6d6e67681e167959389d84e4e4", "884f1af892ab002f5be4c5d5081ade9e0e6418c6ea7a9a92e90534f19dcef785", 32, "37b4777fbfa0bb7b83d5a4e52d1d249000564918b96436704595c36b57c1e366", "fb21b093a965ca191ddc236dd38791d738d37818d8d3861020151dfdd8ee70b0"},
		{"ed66d7f1da52171ac9448f0f902edcfefa4ebbda843a43bd3d173cb7c5b4331e", "02dc18fc5bc4d9093cf41fa0053521653775b123784d40ac7d46cc5a72ef4d46", 32, "14cbe123c10819429719541776782030dd46fc5467186f8d47e13d71facaba44", "71f2a450aa47dccbe2984c4d741e5c4c637630175962ce5f2eff66b4c26bb953"},
		{"06f549e9bf966d7b7135b6ef6d4e3032a1c720adf0281c3ef1c0beac0da88621", "b0fa7e3f0f2199278a55267d551d43946bbfc6d847632867dd86abd1217982a5", 32, "c54d18dab31f33c601e9c118bf4ed7da3f6ba47d7015ab75ea0cbed9e04e1307", "5b197935caefa88ed8d8205af646b522a02a6c1b488395621236ab1b5a0f378d"},
		{"b76193af29eadc6e16c66493e2a4ef8219aad79986b6d4911493741ec1e666cc", "941db06073e76050679d33cf1f0ec33de3e5a2cd00cb738b54c0dd90de251cdd", 32, "ac5e044dfb6dac6e4d5ed1c24d3704ffcd7122d3728a718dfc3d0806a42be7b9", "9461b656d17db9c3f8020824b88028016d35f46d25f7888f171aa35c8cc75779"},
		{"cc9c4b25b0bd69250b6e4f9908d1b170bf62fe8cc11ad36d33e602324ac0662a", "a0f762fc82d5e421d8fdf8a317b2fd463008c625bf19db7fbfa4ac778b5106a2", 32, "9a152300bc71d1740e46b07b1a015f3fb87136672fb91ca4acacb8171c135f91", "aab9dfafc42abafb021ebce083317d461d46bb32c62d8a35b9fb169a290a0346"},
	}
	for i, v := range vectors {
		got, err := SecretExporter(unhex(t, v.exporterSecret)).Export(v.label, unhex(t, v.context), v.length)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, unhex(t, v.want)) {
			t.Errorf("epoch %d: exporter %x, want %s", i, got, v.want)
		}
	}
}

func TestSenderBaseSecretContext(t *testing.T) {
	const user = uint64(158049329150427136)
	var gotLabel string
	var gotCtx []byte
	exp := ExporterFunc(func(label string, ctx []byte, n int) ([]byte, error) {
		gotLabel, gotCtx = label, bytes.Clone(ctx)
		return unhex(t, testBase)[:n], nil
	})
	r, err := NewSenderKeyRatchet(exp, user)
	if err != nil {
		t.Fatal(err)
	}
	if gotLabel != "Discord Secure Frames v0" {
		t.Errorf("label %q", gotLabel)
	}
	if len(gotCtx) != 8 || binary.LittleEndian.Uint64(gotCtx) != user {
		t.Errorf("context %x, want little-endian %d", gotCtx, user)
	}
	k, _ := r.Key(0)
	if !bytes.Equal(k, unhex(t, "7530f9a9945e2d2e06d0651f7b2a864b")) {
		t.Errorf("key %x", k)
	}
	if _, err := SenderBaseSecret(nil, 1); !errors.Is(err, ErrNilExporter) {
		t.Errorf("nil exporter: %v", err)
	}
	short := ExporterFunc(func(string, []byte, int) ([]byte, error) { return make([]byte, 8), nil })
	if _, err := SenderBaseSecret(short, 1); !errors.Is(err, ErrSecretSize) {
		t.Errorf("short secret: %v", err)
	}
}
