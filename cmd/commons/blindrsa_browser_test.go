package main

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"math/big"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/cloudflare/circl/blindsign/blindrsa"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/nodetest"
)

// rfc9474Vector is a test vector of RFC 9474's Appendix A, in hex as the RFC prints it.
type rfc9474Vector struct {
	N, E, P, Q, D             string // the RSA key
	Msg, MsgPrefix, Salt, Inv string // the message and the client's randomness
	BlindedMsg, BlindSig, Sig string // what the client sends, receives and keeps
}

// rfc9474A1 is RFC 9474 Appendix A.1, the vector of RSABSSA-SHA384-PSS-Randomized.
var rfc9474A1 = rfc9474Vector{
	N: "aec4d69addc70b990ea66a5e70603b6fee27aafebd08f2d94cbe1250c556e047a928d635c3f45ee9b66d1bc628a03bac" +
		"9b7c3f416fe20dabea8f3d7b4bbf7f963be335d2328d67e6c13ee4a8f955e05a3283720d3e1f139c38e43e0338ad058a" +
		"9495c53377fc35be64d208f89b4aa721bf7f7d3fef837be2a80e0f8adf0bcd1eec5bb040443a2b2792fdca522a7472ae" +
		"d74f31a1ebe1eebc1f408660a0543dfe2a850f106a617ec6685573702eaaa21a5640a5dcaf9b74e397fa3af18a2f1b7c" +
		"03ba91a6336158de420d63188ee143866ee415735d155b7c2d854d795b7bc236cffd71542df34234221a0413e142d8c6" +
		"1355cc44d45bda94204974557ac2704cd8b593f035a5724b1adf442e78c542cd4414fce6f1298182fb6d8e53cef1adfd" +
		"2e90e1e4deec52999bdc6c29144e8d52a125232c8c6d75c706ea3cc06841c7bda33568c63a6c03817f722b50fcf89823" +
		"7d788a4400869e44d90a3020923dc646388abcc914315215fcd1bae11b1c751fd52443aac8f601087d8d42737c18a3fa" +
		"11ecd4131ecae017ae0a14acfc4ef85b83c19fed33cfd1cd629da2c4c09e222b398e18d822f77bb378dea3cb360b605e" +
		"5aa58b20edc29d000a66bd177c682a17e7eb12a63ef7c2e4183e0d898f3d6bf567ba8ae84f84f1d23bf8b8e261c3729e" +
		"2fa6d07b832e07cddd1d14f55325c6f924267957121902dc19b3b32948bdead5",
	E: "010001",
	P: "e1f4d7a34802e27c7392a3cea32a262a34dc3691bd87f3f310dc75673488930559c120fd0410194fb8a0da55bd0b8122" +
		"7e843fdca6692ae80e5a5d414116d4803fca7d8c30eaaae57e44a1816ebb5c5b0606c536246c7f11985d731684150b63" +
		"c9a3ad9e41b04c0b5b27cb188a692c84696b742a80d3cd00ab891f2457443dadfeba6d6daf108602be26d7071803c671" +
		"05a5426838e6889d77e8474b29244cefaf418e381b312048b457d73419213063c60ee7b0d81820165864fef93523c963" +
		"5c22210956e53a8d96322493ffc58d845368e2416e078e5bcb5d2fd68ae6acfa54f9627c42e84a9d3f2774017e32ebca" +
		"06308a12ecc290c7cd1156dcccfb2311",
	Q: "c601a9caea66dc3835827b539db9df6f6f5ae77244692780cd334a006ab353c806426b60718c05245650821d39445d3a" +
		"b591ed10a7339f15d83fe13f6a3dfb20b9452c6a9b42eaa62a68c970df3cadb2139f804ad8223d56108dfde30ba7d367" +
		"e9b0a7a80c4fdba2fd9dde6661fc73fc2947569d2029f2870fc02d8325acf28c9afa19ecf962daa7916e21afad09eb62" +
		"fe9f1cf91b77dc879b7974b490d3ebd2e95426057f35d0a3c9f45f79ac727ab81a519a8b9285932d9b2e5ccd347e59f3" +
		"f32ad9ca359115e7da008ab7406707bd0e8e185a5ed8758b5ba266e8828f8d863ae133846304a2936ad7bc7c9803879d" +
		"2fc4a28e69291d73dbd799f8bc238385",
	D: "0d43242aefe1fb2c13fbc66e20b678c4336d20b1808c558b6e62ad16a287077180b177e1f01b12f9c6cd6c52630257cc" +
		"ef26a45135a990928773f3bd2fc01a313f1dac97a51cec71cb1fd7efc7adffdeb05f1fb04812c924ed7f4a8269925dad" +
		"88bd7dcfbc4ef01020ebfc60cb3e04c54f981fdbd273e69a8a58b8ceb7c2d83fbcbd6f784d052201b88a9848186f2a45" +
		"c0d2826870733e6fd9aa46983e0a6e82e35ca20a439c5ee7b502a9062e1066493bdadf8b49eb30d9558ed85abc7afb29" +
		"b3c9bc644199654a4676681af4babcea4e6f71fe4565c9c1b85d9985b84ec1abf1a820a9bbebee0df1398aae2c85ab58" +
		"0a9f13e7743afd3108eb32100b870648fa6bc17e8abac4d3c99246b1f0ea9f7f93a5dd5458c56d9f3f81ff2216b3c368" +
		"0a13591673c43194d8e6fc93fc1e37ce2986bd628ac48088bc723d8fbe293861ca7a9f4a73e9fa63b1b6d0074f5dea2a" +
		"624c5249ff3ad811b6255b299d6bc5451ba7477f19c5a0db690c3e6476398b1483d10314afd38bbaf6e2fbdbcd62c3ca" +
		"9797a420ca6034ec0a83360a3ee2adf4b9d4ba29731d131b099a38d6a23cc463db754603211260e99d19affc902c915d" +
		"7854554aabf608e3ac52c19b8aa26ae042249b17b2d29669b5c859103ee53ef9bdc73ba3c6b537d5c34b6d8f034671d7" +
		"f3a8a6966cc4543df223565343154140fd7391c7e7be03e241f4ecfeb877a051",
	Msg:       "8f3dc6fb8c4a02f4d6352edf0907822c1210a9b32f9bdda4c45a698c80023aa6b59f8cfec5fdbb36331372ebefedae7d",
	MsgPrefix: "8417e699b219d583fb6216ae0c53ca0e9723442d02f1d1a34295527e7d929e8b",
	Salt:      "051722b35f458781397c3a671a7d3bd3096503940e4c4f1aaa269d60300ce449555cd7340100df9d46944c5356825abf",
	Inv: "80682c48982407b489d53d1261b19ec8627d02b8cda5336750b8cee332ae260de57b02d72609c1e0e9f28e2040fc65b6" +
		"f02d56dbd6aa9af8fde656f70495dfb723ba01173d4707a12fddac628ca29f3e32340bd8f7ddb557cf819f6b01e445ad" +
		"96f874ba235584ee71f6581f62d4f43bf03f910f6510deb85e8ef06c7f09d9794a008be7ff2529f0ebb69decef646387" +
		"dc767b74939265fec0223aa6d84d2a8a1cc912d5ca25b4e144ab8f6ba054b54910176d5737a2cff011da431bd5f2a0d2" +
		"d66b9e70b39f4b050e45c0d9c16f02deda9ddf2d00f3e4b01037d7029cd49c2d46a8e1fc2c0c17520af1f4b5e25ba396" +
		"afc4cd60c494a4c426448b35b49635b337cfb08e7c22a39b256dd032c00adddafb51a627f99a0e1704170ac1f1912e49" +
		"d9db10ec04c19c58f420212973e0cb329524223a6aa56c7937c5dffdb5d966b6cd4cbc26f3201dd25c80960a1a111b32" +
		"947bb78973d269fac7f5186530930ed19f68507540eed9e1bab8b00f00d8ca09b3f099aae46180e04e3584bd7ca054df" +
		"18a1504b89d1d1675d0966c4ae1407be325cdf623cf13ff13e4a28b594d59e3eadbadf6136eee7a59d6a444c9eb4e219" +
		"8e8a974f27a39eb63af2c9af3870488b8adaad444674f512133ad80b9220e09158521614f1faadfe8505ef57b7df6813" +
		"048603f0dd04f4280177a11380fbfc861dbcbd7418d62155248dad5fdec0991f",
	BlindedMsg: "aa3ee045138d874669685ffaef962c7694a9450aa9b4fd6465db9b3b75a522bb921c4c0fdcdfae9667593255099cff51" +
		"f5d3fd65e8ffb9d3b3036252a6b51b6edfb3f40382b2bbf34c0055e4cbcc422850e586d84f190cd449af11dc65545f5f" +
		"e26fd89796eb87da4bda0c545f397cddfeeb56f06e28135ec74fd477949e7677f6f36cfae8fd5c1c5898b03b9c244cf6" +
		"d1a4fb7ad1cb43aff5e80cb462fac541e72f67f0a50f1843d1759edfaae92d1a916d3f0efaf4d650db416c3bf8abdb54" +
		"14a78cebc97de676723cb119e77aea489f2bbf530c440ebc5a75dccd3ebf5a412a5f346badd61bee588e5917bdcce9dc" +
		"33c882e39826951b0b8276c6203971947072b726e935816056ff5cb11a71ca2946478584126bb877acdf87255f26e6cc" +
		"a4e0878801307485d3b7bb89b289551a8b65a7a6b93db010423d1406e149c87731910306e5e410b41d4da3234624e74f" +
		"92845183e323cf7eb244f212a695f8856c675fbc3a021ce649e22c6f0d053a9d238841cf3afdc2739f99672a419ae13c" +
		"17f1f8a3bc302ec2e7b98e8c353898b7150ad8877ec841ea6e4b288064c254fefd0d049c3ad196bf7ffa535e74585d01" +
		"20ce728036ed500942fbd5e6332c298f1ffebe9ff60c1e117b274cf0cb9d70c36ee4891528996ec1ed0b178e9f3c0c0e" +
		"6120885f39e8ccaadbb20f3196378c07b1ff22d10049d3039a7a92fe7efdd95d",
	BlindSig: "3f4a79eacd4445fca628a310d41e12fcd813c4d43aa4ef2b81226953248d6d00adfee6b79cb88bfa1f99270369fd063c" +
		"023e5ed546719b0b2d143dd1bca46b0e0e615fe5c63d95c5a6b873b8b50bc52487354e69c3dfbf416e7aca18d5842c89" +
		"b676efdd38087008fa5a810161fcdec26f20ccf2f1e6ab0f9d2bb93e051cb9e86a9b28c5bb62fd5f5391379f887c0f70" +
		"6a08bcc3b9e7506aaf02485d688198f5e22eefdf837b2dd919320b17482c5cc54271b4ccb41d267629b3f844fd63750b" +
		"01f5276c79e33718bb561a152acb2eb36d8be75bce05c9d1b94eb609106f38226fb2e0f5cd5c5c39c59dda166862de49" +
		"8b8d92f6bcb41af433d65a2ac23da87f39764cb64e79e74a8f4ce4dd567480d967cefac46b6e9c06434c371563583435" +
		"7edd2ce6f105eea854ac126ccfa3de2aac5607565a4e5efaac5eed491c335f6fc97e6eb7e9cea3e12de38dfb315220c0" +
		"a3f84536abb2fdd722813e083feda010391ac3d8fd1cd9212b5d94e634e69ebcc800c4d5c4c1091c64afc37acf563c7f" +
		"c0a6e4c082bc55544f50a7971f3fb97d5853d72c3af34ffd5ce123998be5360d1059820c66a81e1ee6d9c1803b5b62af" +
		"6bc877526df255b6d1d835d8c840bebbcd6cc0ee910f17da37caf8488afbc08397a1941fcc79e76a5888a95b3d5405e1" +
		"3f737bea5c78d716a48eb9dc0aec8de39c4b45c6914ad4a8185969f70b1adf46",
	Sig: "191e941c57510e22d29afad257de5ca436d2316221fe870c7cb75205a6c071c2735aed0bc24c37f3d5bd960ab97a829a" +
		"508f966bbaed7a82645e65eadaf24ab5e6d9421392c5b15b7f9b640d34fec512846a3100b80f75ef51064602118c1a77" +
		"d28d938f6efc22041d60159a518d3de7c4d840c9c68109672d743d299d8d2577ef60c19ab463c716b3fa75fa56f57353" +
		"49d414a44df12bf0dd44aa3e10822a651ed4cb0eb6f47c9bd0ef14a034a7ac2451e30434d513eb22e68b7587a8de9b4e" +
		"63a059d05c8b22c7c51e2cfee2d8bef511412e93c859a13726d87c57d1bc4c2e68ab121562f839c3a3d233e87ed63c69" +
		"b7e57525367753fbebcc2a9805a2802659f5888b2c69115bf865559f10d906c09d048a0d71bfee4b33857393ec2b69e4" +
		"51433496d02c9a7910abb954317720bbde9e69108eafc3e90bad3d5ca4066d7b1e49013fa04e948104a1dd82b12509ec" +
		"b146e948c54bd8bfb5e6d18127cd1f7a93c3cf9f2d869d5a78878c03fe808a0d799e910be6f26d18db61c485b303631d" +
		"3568368fc41986d08a95ea6ac0592240c19d7b22416b9c82ae6241e211dd5610d0baaa9823158f9c32b66318f5529491" +
		"b7eeadcaa71898a63bac9d95f4aa548d5e97568d744fc429104e32edd9c87519892a198a30d333d427739ffb9607b092" +
		"e910ae37771abf2adb9f63bc058bf58062ad456cb934679795bbdfcdfad5e0f2",
}

// blindVectorJS runs the browser's blind signature client against the RFC vector: the injected
// rand gives the message prefix, then the PSS salt, then the blinding factor r. It also
// finalizes a blind signature with one bit flipped, which must throw.
const blindVectorJS = `(async (spki, msg, prefix, salt, r, blindSig) => {
	const B = CommonsBlindRSA, W = CommonsWalletCore, b = W.fromBase64;
	const queue = [b(prefix), b(salt), b(r)];
	const rand = (len) => queue.shift();
	const prepared = await B.prepare(b(msg), rand);
	const { blindedMsg, inv } = await B.blind(spki, prepared, rand);
	const sig = await B.finalize(spki, prepared, b(blindSig), inv);
	const wrong = b(blindSig);
	wrong[wrong.length - 1] ^= 1;
	let refused = "finalized";
	try { await B.finalize(spki, prepared, wrong, inv); } catch (e) { refused = e.message; }
	return { prepared: W.toBase64(prepared), blindedMsg: W.toBase64(blindedMsg), inv: W.toBase64(inv),
		sig: W.toBase64(sig), verified: await B.verify(spki, prepared, sig), refused };
})`

// blindVectorResult is what blindVectorJS returns.
type blindVectorResult struct {
	Prepared   []byte `json:"prepared"`
	BlindedMsg []byte `json:"blindedMsg"`
	Inv        []byte `json:"inv"`
	Sig        []byte `json:"sig"`
	Verified   bool   `json:"verified"`
	Refused    string `json:"refused"`
}

// TestBlindRSAVectors checks the wallet's RFC 9474 client (blindrsa.js) against RFC 9474's
// own vector for RSABSSA-SHA384-PSS-Randomized: with the RFC's randomness injected, the
// browser prepares the RFC's input message, blinds it to the RFC's blinded message with the
// RFC's inverse, and finalizes the RFC's blind signature into the RFC's signature, which its
// verify accepts; circl's signer, given the browser's blinded message and the RFC's private
// key, answers the RFC's blind signature; and a blind signature with one bit flipped makes
// finalize throw.
func TestBlindRSAVectors(t *testing.T) {
	t.Parallel()
	v := rfc9474A1
	sk := &rsa.PrivateKey{
		PublicKey: rsa.PublicKey{N: hexInt(t, v.N), E: int(hexInt(t, v.E).Int64())},
		D:         hexInt(t, v.D),
		Primes:    []*big.Int{hexInt(t, v.P), hexInt(t, v.Q)},
	}
	require.NoError(t, sk.Validate(), "the RFC's key")
	sk.Precompute()
	size := (sk.N.BitLen() + 7) / 8
	// The RFC gives the inverse of the blinding factor; the browser draws r itself.
	inv := hexInt(t, v.Inv)
	r := new(big.Int).ModInverse(inv, sk.N)
	require.NotNil(t, r)

	ctx := browserContext(t)
	n := startNode(t, t.TempDir(), &nodetest.Logs{})
	bctx, rl := walletBrowser(t, ctx, "")
	openWalletPage(t, bctx, n.url+"/wallet")

	js, err := chromedp.Run(bctx, chromedp.Evaluate[blindVectorResult](callJS(t, blindVectorJS, spkiOf(t, &sk.PublicKey),
		unhex(t, v.Msg), unhex(t, v.MsgPrefix), unhex(t, v.Salt), r.FillBytes(make([]byte, size)), unhex(t, v.BlindSig)),
		chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	assert.Equal(t, hex.EncodeToString(append(unhex(t, v.MsgPrefix), unhex(t, v.Msg)...)), hex.EncodeToString(js.Prepared), "input_msg = msg_prefix || msg")
	assert.Equal(t, v.BlindedMsg, hex.EncodeToString(js.BlindedMsg), "blinded_msg")
	assert.Equal(t, inv.FillBytes(make([]byte, size)), js.Inv, "inv")
	assert.Equal(t, v.Sig, hex.EncodeToString(js.Sig), "sig")
	assert.True(t, js.Verified, "the browser verifies the RFC's signature")
	assert.Contains(t, js.Refused, "invalid signature", "a flipped blind signature does not finalize")

	blindSig, err := blindrsa.NewSigner(sk).BlindSign(js.BlindedMsg)
	require.NoError(t, err)
	assert.Equal(t, v.BlindSig, hex.EncodeToString(blindSig), "circl signs the browser's blinded message as the RFC does")
	verifier, err := blindrsa.NewVerifier(blindrsa.SHA384PSSRandomized, &sk.PublicKey)
	require.NoError(t, err)
	assert.NoError(t, verifier.Verify(js.Prepared, js.Sig), "circl verifies the browser's signature")
	assert.Empty(t, rl.errors())
}

// blindJS prepares and blinds a message in the browser, twice, with its own randomness.
const blindJS = `(async (spki, msg) => {
	const B = CommonsBlindRSA, W = CommonsWalletCore;
	const prepared = await B.prepare(W.fromBase64(msg));
	const again = await B.prepare(W.fromBase64(msg));
	const { blindedMsg, inv } = await B.blind(spki, prepared);
	const other = await B.blind(spki, prepared);
	return { prepared: W.toBase64(prepared), again: W.toBase64(again), blindedMsg: W.toBase64(blindedMsg),
		inv: W.toBase64(inv), otherBlindedMsg: W.toBase64(other.blindedMsg) };
})`

// finalizeJS finalizes the signer's blind signature, checks the result with verify (as is
// and with a bit flipped), and tries to finalize wrong blind signatures.
const finalizeJS = `(async (spki, prepared, blindSig, inv, wrongSigs) => {
	const B = CommonsBlindRSA, W = CommonsWalletCore, b = W.fromBase64;
	const sig = await B.finalize(spki, b(prepared), b(blindSig), b(inv));
	const flipped = sig.slice();
	flipped[0] ^= 0x80;
	const refused = [];
	for (const w of wrongSigs) {
		try { await B.finalize(spki, b(prepared), b(w), b(inv)); refused.push("finalized"); } catch (e) { refused.push(e.message); }
	}
	return { sig: W.toBase64(sig), verified: await B.verify(spki, b(prepared), sig),
		flippedVerified: await B.verify(spki, b(prepared), flipped), refused };
})`

// verifyJS is the browser's verdict on each (prepared message, signature) pair.
const verifyJS = `(async (spki, pairs) => {
	const B = CommonsBlindRSA, b = CommonsWalletCore.fromBase64;
	const out = [];
	for (const [m, s] of pairs) out.push(await B.verify(spki, b(m), b(s)));
	return out;
})`

// keyErrorsJS is what blind says of keys it must refuse.
const keyErrorsJS = `(async (keys) => {
	const out = [];
	for (const k of keys) {
		try { await CommonsBlindRSA.blind(k, new Uint8Array(40)); out.push("blinded"); } catch (e) { out.push(e.message); }
	}
	return out;
})`

// TestBlindRSAInterop runs RFC 9474 RSABSSA-SHA384-PSS-Randomized between the browser and
// circl (the server's implementation) on a fresh 2048-bit key, both ways: the browser
// prepares and blinds, circl blind-signs, the browser finalizes, and circl verifies; circl's
// client blinds and finalizes, and the browser's verify accepts its signature. A signature
// with a bit flipped is refused by both, a wrong blind signature makes finalize throw, and
// keys that are not RSA or are under 2048 bits are refused.
func TestBlindRSAInterop(t *testing.T) {
	t.Parallel()
	sk, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	spki := spkiOf(t, &sk.PublicKey)
	signer := blindrsa.NewSigner(sk)
	verifier, err := blindrsa.NewVerifier(blindrsa.SHA384PSSRandomized, &sk.PublicKey)
	require.NoError(t, err)

	ctx := browserContext(t)
	n := startNode(t, t.TempDir(), &nodetest.Logs{})
	bctx, rl := walletBrowser(t, ctx, "")
	openWalletPage(t, bctx, n.url+"/wallet")

	t.Run("browser client, circl signer", func(t *testing.T) {
		msg := []byte("petition riverside-trees token")
		type blinded struct {
			Prepared        []byte `json:"prepared"`
			Again           []byte `json:"again"`
			BlindedMsg      []byte `json:"blindedMsg"`
			Inv             []byte `json:"inv"`
			OtherBlindedMsg []byte `json:"otherBlindedMsg"`
		}
		b, err := chromedp.Run(bctx, chromedp.Evaluate[blinded](callJS(t, blindJS, spki, msg), chromedp.EvalAwaitPromise))
		require.NoError(t, err)
		require.Len(t, b.Prepared, 32+len(msg))
		assert.Equal(t, msg, b.Prepared[32:], "prepared = 32 random bytes || msg")
		assert.NotEqual(t, b.Prepared[:32], b.Again[:32], "each preparation draws its own prefix")
		assert.Len(t, b.BlindedMsg, 256)
		assert.Len(t, b.Inv, 256)
		assert.NotEqual(t, b.BlindedMsg, b.OtherBlindedMsg, "each blinding draws its own r")

		blindSig, err := signer.BlindSign(b.BlindedMsg)
		require.NoError(t, err)
		otherSig, err := signer.BlindSign(b.OtherBlindedMsg)
		require.NoError(t, err)
		flippedBlindSig := append([]byte(nil), blindSig...)
		flippedBlindSig[len(flippedBlindSig)-1] ^= 1
		type finalized struct {
			Sig             []byte   `json:"sig"`
			Verified        bool     `json:"verified"`
			FlippedVerified bool     `json:"flippedVerified"`
			Refused         []string `json:"refused"`
		}
		f, err := chromedp.Run(bctx, chromedp.Evaluate[finalized](callJS(t, finalizeJS, spki, b.Prepared, blindSig, b.Inv,
			[][]byte{otherSig, flippedBlindSig, blindSig[1:]}), chromedp.EvalAwaitPromise))
		require.NoError(t, err)
		assert.NoError(t, verifier.Verify(b.Prepared, f.Sig), "circl verifies the browser's finalized signature")
		digest := sha512.Sum384(b.Prepared)
		assert.NoError(t, rsa.VerifyPSS(&sk.PublicKey, crypto.SHA384, digest[:], f.Sig, &rsa.PSSOptions{SaltLength: 48}),
			"it is a plain RSA-PSS signature: the standard library verifies it")
		assert.True(t, f.Verified, "the browser verifies it too")
		assert.False(t, f.FlippedVerified, "the browser refuses it with a bit flipped")
		flipped := append([]byte(nil), f.Sig...)
		flipped[0] ^= 0x80
		assert.Error(t, verifier.Verify(b.Prepared, flipped), "circl refuses it with a bit flipped")
		require.Len(t, f.Refused, 3)
		assert.Contains(t, f.Refused[0], "invalid signature", "another message's blind signature")
		assert.Contains(t, f.Refused[1], "invalid signature", "a flipped blind signature")
		assert.Contains(t, f.Refused[2], "unexpected input size", "a short blind signature")
	})

	t.Run("circl client, browser verifier", func(t *testing.T) {
		client, err := blindrsa.NewClient(blindrsa.SHA384PSSRandomized, &sk.PublicKey)
		require.NoError(t, err)
		prepared, err := client.Prepare(rand.Reader, []byte("petition clean-air-at-schools token"))
		require.NoError(t, err)
		blinded, state, err := client.Blind(rand.Reader, prepared)
		require.NoError(t, err)
		blindSig, err := signer.BlindSign(blinded)
		require.NoError(t, err)
		sig, err := client.Finalize(state, blindSig)
		require.NoError(t, err)
		flippedSig := append([]byte(nil), sig...)
		flippedSig[len(flippedSig)/2] ^= 1
		flippedMsg := append([]byte(nil), prepared...)
		flippedMsg[0] ^= 1
		require.Error(t, verifier.Verify(prepared, flippedSig), "circl refuses a flipped signature")
		require.Error(t, verifier.Verify(flippedMsg, sig), "circl refuses a flipped message")
		got, err := chromedp.Run(bctx, chromedp.Evaluate[[]bool](callJS(t, verifyJS, spki,
			[][][]byte{{prepared, sig}, {prepared, flippedSig}, {flippedMsg, sig}, {prepared, sig[1:]}}), chromedp.EvalAwaitPromise))
		require.NoError(t, err)
		assert.Equal(t, []bool{true, false, false, false}, got, "the browser accepts circl's signature and nothing altered or cut")
	})

	t.Run("keys refused", func(t *testing.T) {
		small, err := rsa.GenerateKey(rand.Reader, 1024)
		require.NoError(t, err)
		got, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](callJS(t, keyErrorsJS,
			[]string{spkiOf(t, &small.PublicKey), "bm90IGEga2V5"}), chromedp.EvalAwaitPromise))
		require.NoError(t, err)
		require.Len(t, got, 2)
		assert.Contains(t, got[0], "1024-bit modulus is too small")
		assert.Contains(t, got[1], "not an RSA public key")
	})
	assert.Empty(t, rl.errors())
}

// spkiOf is pk as the wallet receives public keys: SPKI DER in standard base64.
func spkiOf(t *testing.T, pk *rsa.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pk)
	require.NoError(t, err)
	return base64.StdEncoding.EncodeToString(der)
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

func hexInt(t *testing.T, s string) *big.Int {
	t.Helper()
	x, ok := new(big.Int).SetString(s, 16)
	require.True(t, ok, "hex integer %.16s…", s)
	return x
}
