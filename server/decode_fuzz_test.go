package server

import (
	"encoding/json"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/commons-city/commons/crypto"
)

// FuzzDecodeStatement feeds arbitrary bodies to the server's strict JSON decoder, as the
// statement, citizen and contribution handlers call it, and checks that whatever it accepts
// is a well-formed signed statement or contribution that verifies (or is refused) without
// panicking, and re-encodes to JSON the decoder accepts again.
func FuzzDecodeStatement(f *testing.F) {
	w, err := crypto.NewWallet()
	if err != nil {
		f.Fatal(err)
	}
	s, err := w.SignStatement(crypto.Statement{Type: crypto.TypeConsentGrant, Purpose: "air-quality/daily",
		PurposeVersion: 1, IssuedAt: crypto.Now(), Nonce: crypto.NewNonce()})
	if err != nil {
		f.Fatal(err)
	}
	b, _ := json.Marshal(s)
	f.Add(b)
	c, err := w.SignContribution(crypto.Contribution{IssuedAt: crypto.Now(), Nonce: crypto.NewNonce(),
		Envelopes: []crypto.Envelope{{Day: "2026-01-02", Purpose: "vault", Ciphertext: []byte("x")}}})
	if err != nil {
		f.Fatal(err)
	}
	b, _ = json.Marshal(c)
	f.Add(b)
	for _, s := range []string{`{"statement":`, `{"statement":{},"signature":"","x":1}`, `{"statement":{"issued_at":1e400}}`,
		`{"statement":{"purpose_version":NaN}}`, "{\"signature\":\"\xff\xfe\"}", `{} {}`, `[[[[[[[[[[`, `null`} {
		f.Add([]byte(s))
	}
	app := fiber.New()
	decodeBody := func(body []byte, v any) error {
		fctx := &fasthttp.RequestCtx{}
		fctx.Request.Header.SetContentType(fiber.MIMEApplicationJSON)
		fctx.Request.SetBody(body)
		ctx := app.AcquireCtx(fctx)
		defer app.ReleaseCtx(ctx)
		return decode(ctx, v)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var st crypto.SignedStatement
		if decodeBody(body, &st) == nil {
			_ = st.Verify(w.SigningPublicKey())
			again, err := json.Marshal(st)
			if err != nil {
				t.Fatalf("an accepted statement does not re-encode: %v", err)
			}
			var st2 crypto.SignedStatement
			if err := decodeBody(again, &st2); err != nil {
				t.Fatalf("the re-encoded statement %s is refused: %v", again, err)
			}
		}
		var sc crypto.SignedContribution
		if decodeBody(body, &sc) == nil {
			_ = sc.Verify(w.SigningPublicKey())
			_, _ = sc.Contribution.ID()
		}
	})
}
