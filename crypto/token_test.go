package crypto

import (
	"crypto/ed25519"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTokenRoundTripIsBlindAndBound issues a token the way a node does and spends it the way a
// node checks it: it verifies for its petition and key only, the node's view of the blinded
// message differs from the token it later sees, and blinding is the same on every device.
func TestTokenRoundTripIsBlindAndBound(t *testing.T) {
	t.Parallel()
	sk, err := NewTokenKey()
	require.NoError(t, err)
	w := newWallet(t)
	req, err := w.BlindToken("trees", &sk.PublicKey)
	require.NoError(t, err)
	again, err := w.BlindToken("trees", &sk.PublicKey)
	require.NoError(t, err)
	assert.Equal(t, req.Blinded, again.Blinded, "the same wallet blinds the same way on every device")
	other, err := newWallet(t).BlindToken("trees", &sk.PublicKey)
	require.NoError(t, err)
	assert.NotEqual(t, req.Blinded, other.Blinded)

	blindSig, err := BlindSign(sk, req.Blinded)
	require.NoError(t, err)
	tok, err := req.Finalize(blindSig)
	require.NoError(t, err)
	assert.NotEqual(t, blindSig, tok, "the node never sees the token it signed")

	v, err := NewTokenVerifier(&sk.PublicKey)
	require.NoError(t, err)
	pub := req.Key.Public().(ed25519.PublicKey)
	require.NoError(t, v.Verify("trees", pub, req.Randomizer, tok))
	assert.Equal(t, w.Nullifier("trees"), PetitionNullifier(pub))
	assert.ErrorIs(t, v.Verify("other", pub, req.Randomizer, tok), ErrBadToken, "another petition")
	k2, err := w.PetitionKey("other")
	require.NoError(t, err)
	assert.ErrorIs(t, v.Verify("trees", k2.Public().(ed25519.PublicKey), req.Randomizer, tok), ErrBadToken, "another key")
	assert.ErrorIs(t, v.Verify("trees", pub, make([]byte, RandomizerSize), tok), ErrBadToken, "another randomizer")

	_, err = other.Finalize(blindSig)
	assert.Error(t, err, "a blind signature finalises only for its own blinding")

	spki, err := EncodeTokenKey(&sk.PublicKey)
	require.NoError(t, err)
	back, err := DecodeTokenKey(spki)
	require.NoError(t, err)
	assert.True(t, back.Equal(&sk.PublicKey))
}

// TestPetitionActsVerifyWithTheirKeyOnly signs acts with a petition key: the act verifies,
// a changed field or another key does not.
func TestPetitionActsVerifyWithTheirKeyOnly(t *testing.T) {
	t.Parallel()
	w := newWallet(t)
	k, err := w.PetitionKey("trees")
	require.NoError(t, err)
	act, sig, err := SignAct(k, PetitionAct{Type: TypePetitionSign, Petition: "trees", Document: DocumentHash([]byte("x"))})
	require.NoError(t, err)
	pub, err := VerifyAct(act, sig)
	require.NoError(t, err)
	assert.Equal(t, w.Nullifier("trees"), PetitionNullifier(pub))
	changed := act
	changed.Type = TypePetitionWithdraw
	_, err = VerifyAct(changed, sig)
	assert.ErrorIs(t, err, ErrBadSignature)
	other, err := w.PetitionKey("bikes")
	require.NoError(t, err)
	changed = act
	changed.Key = EncodeKey(other.Public().(ed25519.PublicKey))
	_, err = VerifyAct(changed, sig)
	assert.ErrorIs(t, err, ErrBadSignature)
	b, err := act.Canonical()
	require.NoError(t, err)
	assert.Equal(t, `{"document":"`+DocumentHash([]byte("x"))+`","key":"`+act.Key+`","petition":"trees","type":"petition.sign"}`, string(b))
}
