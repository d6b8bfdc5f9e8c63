package bench

import (
	"crypto/hmac"
	"crypto/sha512"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/tfkit/tfc"
)

// BenchmarkVerify checks a run task signature over 4 KiB and 1 MiB bodies: tfc's
// verifier against a bare crypto/hmac check (new MAC, hash, constant-time compare).
func BenchmarkVerify(b *testing.B) {
	const key = "bench-hmac-key"
	for _, size := range []int{4 << 10, 1 << 20} {
		body := []byte(strings.Repeat("a", size))
		sig := tfc.Sign(key, body)
		name := map[int]string{4 << 10: "4KiB", 1 << 20: "1MiB"}[size]
		b.Run(name+"/tfc", func(b *testing.B) {
			v, _ := tfc.NewSignatureVerifier(key)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if err := v.VerifyHex(sig, body); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/crypto-hmac", func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				want, _ := hex.DecodeString(sig)
				mac := hmac.New(sha512.New, []byte(key))
				mac.Write(body)
				if !hmac.Equal(mac.Sum(nil), want) {
					b.Fatal("mismatch")
				}
			}
		})
	}
}
