package tfc

import (
	"crypto/hmac"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"hash"
	"net/http"
	"strings"
	"sync"
)

// Signature headers of run task requests.
const (
	// SignatureHeader carries the hex HMAC-SHA512 of the request body, keyed with the
	// run task's HMAC key. The service sends it empty when the task has no key.
	SignatureHeader = "X-TFC-Task-Signature"
	// LegacySignatureHeader is the name the 2021 run task document gave the header.
	LegacySignatureHeader = "X-TFC-Run-Task-Signature"
)

// Signature errors. Neither says which key was tried or what the expected value was:
// that would help a forger.
var (
	// ErrSignatureMissing: the request carries no signature.
	ErrSignatureMissing = errors.New("tfc: run task request is not signed")
	// ErrSignatureInvalid: the signature is not hex of the right length, or matches none
	// of the keys.
	ErrSignatureInvalid = errors.New("tfc: run task request signature does not match")
)

// Sign returns what the service puts in X-TFC-Task-Signature for body: the lowercase
// hex HMAC-SHA512 of the raw bytes, keyed with key. Tests and fakes use it to sign
// deliveries.
func Sign(key Secret, body []byte) string {
	mac := hmac.New(sha512.New, []byte(key))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// VerifySignature checks a run task request for people with their own server: it
// reads the signature from X-TFC-Task-Signature (or the legacy
// X-TFC-Run-Task-Signature) and compares it, in constant time, with the HMAC-SHA512 of
// body under each key; any key may match, so keys can be rotated. body must be the raw
// bytes received, not re-encoded JSON.
func VerifySignature(header http.Header, body []byte, keys ...Secret) error {
	v, err := NewSignatureVerifier(keys...)
	if err != nil {
		return err
	}
	return v.Verify(header, body)
}

// SignatureVerifier verifies run task request signatures against a fixed set of keys.
// It keeps each key's HMAC state ready, so verifying costs little more than hashing the
// body. It is safe for concurrent use.
type SignatureVerifier struct {
	macs []*sync.Pool // one pool of keyed HMACs per key
}

// NewSignatureVerifier returns a verifier for one or more keys (several during a key
// rotation). Empty keys are refused.
func NewSignatureVerifier(keys ...Secret) (*SignatureVerifier, error) {
	if len(keys) == 0 {
		return nil, invalidArg("HMAC keys", "at least one key is required")
	}
	v := &SignatureVerifier{macs: make([]*sync.Pool, len(keys))}
	for i, k := range keys {
		if k == "" {
			return nil, invalidArg("HMAC keys", "a key is empty")
		}
		key := []byte(k)
		v.macs[i] = &sync.Pool{New: func() any { return hmac.New(sha512.New, key) }}
	}
	return v, nil
}

// Verify checks the signature header of a request against body; see VerifySignature.
func (v *SignatureVerifier) Verify(header http.Header, body []byte) error {
	return v.VerifyHex(signatureFrom(header), body)
}

// VerifyHex checks a hex signature (either case) against body. Every key is tried, so
// the time taken does not tell which key matched.
func (v *SignatureVerifier) VerifyHex(signature string, body []byte) error {
	signature = strings.TrimSpace(signature)
	if signature == "" {
		return ErrSignatureMissing
	}
	var want [sha512.Size]byte
	if len(signature) != hex.EncodedLen(sha512.Size) {
		return ErrSignatureInvalid
	}
	if _, err := hex.Decode(want[:], []byte(signature)); err != nil {
		return ErrSignatureInvalid
	}
	matched := false
	var sum [sha512.Size]byte
	for _, pool := range v.macs {
		mac := pool.Get().(hash.Hash)
		mac.Reset()
		mac.Write(body)
		got := mac.Sum(sum[:0])
		pool.Put(mac)
		if hmac.Equal(got, want[:]) {
			matched = true
		}
	}
	if !matched {
		return ErrSignatureInvalid
	}
	return nil
}

// signatureFrom reads the signature header, falling back to the legacy name.
func signatureFrom(h http.Header) string {
	if s := h.Get(SignatureHeader); s != "" {
		return s
	}
	return h.Get(LegacySignatureHeader)
}
