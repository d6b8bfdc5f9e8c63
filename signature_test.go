package tfc

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestSignMatchesOpenSSL(t *testing.T) {
	// echo -n 'hello' | openssl dgst -sha512 -hmac 'secret'
	const want = "db1595ae88a62fd151ec1cba81b98c39df82daae7b4cb9820f446d5bf02f1dcfca6683d88cab3e273f5963ab8ec469a746b5b19086371239f67d1e5f99a79440"
	if got := Sign("secret", []byte("hello")); got != want {
		t.Errorf("Sign = %s", got)
	}
}

func TestVerifySignature(t *testing.T) {
	body := fixture(t, "runtask_request_post_plan.json")
	sig := Sign(testHMACKey, body)
	h := func(name, value string) http.Header {
		hd := http.Header{}
		hd.Set(name, value)
		return hd
	}
	tests := []struct {
		name   string
		header http.Header
		keys   []Secret
		want   error
	}{
		{"current header", h(SignatureHeader, sig), []Secret{testHMACKey}, nil},
		{"header name in any case", http.Header{"X-Tfc-Task-Signature": {sig}}, []Secret{testHMACKey}, nil},
		{"legacy header", h(LegacySignatureHeader, sig), []Secret{testHMACKey}, nil},
		{"upper-case hex", h(SignatureHeader, strings.ToUpper(sig)), []Secret{testHMACKey}, nil},
		{"rotation: second key", h(SignatureHeader, sig), []Secret{"next-key", testHMACKey}, nil},
		{"missing", http.Header{}, []Secret{testHMACKey}, ErrSignatureMissing},
		{"empty, as sent for a task without key", h(SignatureHeader, ""), []Secret{testHMACKey}, ErrSignatureMissing},
		{"wrong key", h(SignatureHeader, sig), []Secret{"other"}, ErrSignatureInvalid},
		{"truncated", h(SignatureHeader, sig[:100]), []Secret{testHMACKey}, ErrSignatureInvalid},
		{"not hex", h(SignatureHeader, strings.Repeat("g", 128)), []Secret{testHMACKey}, ErrSignatureInvalid},
		{"sha256-sized", h(SignatureHeader, sig[:64]), []Secret{testHMACKey}, ErrSignatureInvalid},
	}
	for _, tt := range tests {
		if err := VerifySignature(tt.header, body, tt.keys...); !errors.Is(err, tt.want) && err != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	if err := VerifySignature(h(SignatureHeader, sig), body); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("no keys: %v", err)
	}
	// Re-encoding the JSON changes the bytes: only the raw body verifies.
	if err := VerifySignature(h(SignatureHeader, sig), []byte(compact(body)), testHMACKey); !errors.Is(err, ErrSignatureInvalid) {
		t.Errorf("re-encoded body verified: %v", err)
	}
}

func TestSignatureVerifierConcurrent(t *testing.T) {
	v, err := NewSignatureVerifier(testHMACKey, "second")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 16)
	for i := range 16 {
		go func() {
			body := []byte(strings.Repeat("x", i*100))
			var err error
			for range 100 {
				if err = v.VerifyHex(Sign(testHMACKey, body), body); err != nil {
					break
				}
			}
			done <- err
		}()
	}
	for range 16 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
