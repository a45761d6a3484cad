package dashboards

import (
	"encoding/json"
	"html"
	"io/fs"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/purpose"
)

var (
	templateKey = regexp.MustCompile(`\{\{-?\s*(?:t|th)\s+("(?:[^"\\]|\\.)*")`)
	goKey       = regexp.MustCompile(`\bl\.(?:t|html)\(("(?:[^"\\]|\\.)*")`)
	verb        = regexp.MustCompile(`%[-+# 0]*[0-9]*(?:\.[0-9]+)?[a-zA-Z%]`)
)

// usedKeys returns every catalogue key the templates and the Go code use, and the band names
// and ranges the templates translate through a field.
func usedKeys(t *testing.T) map[string]bool {
	keys := map[string]bool{}
	add := func(quoted string) {
		k, err := strconv.Unquote(quoted)
		require.NoError(t, err, quoted)
		keys[k] = true
	}
	require.NoError(t, fs.WalkDir(assets, "templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := assets.ReadFile(path)
		for _, m := range templateKey.FindAllStringSubmatch(string(b), -1) {
			add(m[1])
		}
		return err
	}))
	files, err := os.ReadDir(".")
	require.NoError(t, err)
	for _, f := range files {
		if !strings.HasSuffix(f.Name(), ".go") || strings.HasSuffix(f.Name(), "_test.go") {
			continue
		}
		b, err := os.ReadFile(f.Name())
		require.NoError(t, err)
		for _, m := range goKey.FindAllStringSubmatch(string(b), -1) {
			add(m[1])
		}
	}
	for _, b := range bands {
		keys[b.Label], keys[b.Range] = true, true
	}
	// The home page translates the built-in purpose's title and description.
	air := purpose.AirDaily("")
	keys[air.Title], keys[air.Description] = true, true
	return keys
}

// Every user-visible string has a French translation with the same formatting verbs, and the
// catalogue holds nothing unused.
func TestFrenchCatalogueIsComplete(t *testing.T) {
	t.Parallel()
	keys := usedKeys(t)
	require.Greater(t, len(keys), 100)
	for k := range keys {
		fr, ok := catalogue[french][k]
		if !assert.True(t, ok, "no French for %q", k) {
			continue
		}
		assert.Equal(t, verb.FindAllString(k, -1), verb.FindAllString(fr, -1), "verbs of %q", k)
	}
	for k := range catalogue[french] {
		assert.True(t, keys[k], "catalogue entry %q is never used", k)
	}
}

func TestAcceptLanguage(t *testing.T) {
	t.Parallel()
	for header, want := range map[string]lang{
		"":                             english,
		"fr":                           french,
		"fr-CA,fr;q=0.9,en;q=0.8":      french,
		"en-GB,en;q=0.9,fr;q=0.8":      english,
		"de-DE,de;q=0.9,fr;q=0.5":      french,
		"de, es":                       english,
		"en;q=0.2, FR-be;q=0.7":        french,
		"fr;q=0, en;q=0.1":             english,
		"fr;q=bogus, en":               english,
		"*":                            english,
		"fr;q=0.5,en;q=0.5":            french, // a tie goes to the first listed
		strings.Repeat("x-y;q=1,", 99): english,
	} {
		assert.Equal(t, want, acceptLanguage(header), "%q", header)
	}
}

// The language comes from Accept-Language, a ?lang= link overrides it and is remembered in a
// cookie, and every page says which language it is in.
func TestLanguageSwitching(t *testing.T) {
	t.Parallel()
	h := seeded(t)
	get := func(path, acceptLanguage, cookie string) (*http.Response, string) {
		var header []string
		if acceptLanguage != "" {
			header = append(header, "Accept-Language", acceptLanguage)
		}
		if cookie != "" {
			header = append(header, "Cookie", cookie)
		}
		return fetch(t, h, path, header...)
	}
	for _, path := range []string{"/", "/air", "/air?day=2026-10-01", "/petitions", "/petitions/" + petitionID, "/ledger", "/nowhere-petition"} {
		if path == "/nowhere-petition" {
			path = "/petitions/nope"
		}
		_, en := get(path, "", "")
		assert.Contains(t, en, `<html lang="en">`, path)
		assert.Contains(t, en, `hreflang="fr" lang="fr">Français</a>`, path)
		assert.Contains(t, en, ">Skip to content<", path)

		_, fr := get(path, "fr-FR,fr;q=0.9,en;q=0.5", "")
		assert.Contains(t, fr, `<html lang="fr">`, path)
		assert.Contains(t, fr, ">Aller au contenu<", path)
		assert.Contains(t, fr, `hreflang="en" lang="en">English</a>`, path)
		assert.NotContains(t, fr, ">Skip to content<", path)
	}

	resp, fr := get("/air?day=2026-10-01&lang=fr", "en", "")
	assert.Contains(t, fr, `<html lang="fr">`)
	assert.Contains(t, fr, "jeudi 1 octobre 2026")
	assert.Contains(t, fr, `<td class="num"><span class="swatch b-good" aria-hidden="true"></span>8,2 <span class="band">bon</span></td>`,
		"a decimal comma and the band's French name")
	assert.Contains(t, fr, "North Hill : PM2,5 8,2 µg/m³ (bon), 11 contributeurs")
	assert.Contains(t, fr, `href="/air?day=2026-10-01&amp;lang=en"`, "the switch keeps the day")
	cookie := resp.Header.Get("Set-Cookie")
	assert.Contains(t, cookie, "lang=fr")
	assert.Contains(t, cookie, "SameSite=Lax")
	_, again := get("/ledger", "en", "lang=fr")
	assert.Contains(t, again, `<html lang="fr">`, "the cookie beats Accept-Language")
	assert.Contains(t, again, "<h1>Registre</h1>")
	_, back := get("/ledger?lang=en", "", "lang=fr")
	assert.Contains(t, back, `<html lang="en">`, "a link beats the cookie")

	_, petition := get("/petitions/"+petitionID, "fr", "")
	assert.Contains(t, petition, "habitants de North Hill et South Docks")
	assert.Contains(t, petition, "<strong>3</strong> signatures sur les 100")
	assert.Contains(t, petition, "1 octobre 2026, 12:00 UTC")
	_, missing := get("/petitions/%3Cb%3Enope?lang=fr", "", "")
	assert.Contains(t, missing, "Aucune pétition ne porte cet identifiant.")
	assert.Contains(t, missing, `href="/?lang=en"`, "a 404's switch never repeats the request")
	assert.NotContains(t, missing, "nope")
}

// englishStopwords are words a French page never holds outside a quotation or a name.
var englishStopwords = regexp.MustCompile(`(?i)\b(the|and|of|your|with|is|are|this|that|these|from|per|by|which|when|only|every|not|yet|been)\b`)

// word is a word of at least two letters.
var word = regexp.MustCompile(`\p{L}{2,}`)

// tagOrSpace matches markup and runs of white space, to reduce a page to its words.
var tagOrSpace = regexp.MustCompile(`<[^>]*>|\s+`)

// pageText is what a person reads on an HTML page: its text without markup, entities
// unescaped, white space collapsed.
func pageText(page string) string {
	for _, tag := range []string{"style", "script", "svg", "pre", "code"} {
		for {
			start := strings.Index(page, "<"+tag)
			end := strings.Index(page, "</"+tag+">")
			if start < 0 || end < start {
				break
			}
			page = page[:start] + page[end+len("</"+tag+">"):]
		}
	}
	return html.UnescapeString(tagOrSpace.ReplaceAllString(page, " "))
}

// englishFragments are the catalogue's English texts (keys whose French differs), cut at
// their formatting verbs and markup into runs of at least three words: none of them may
// appear on a French page.
func englishFragments() []string {
	var out []string
	for key, fr := range catalogue[french] {
		if fr == key {
			continue
		}
		for _, part := range verb.Split(pageText(key), -1) {
			if part = strings.TrimSpace(part); len(word.FindAllString(part, -1)) >= 3 {
				out = append(out, part)
			}
		}
	}
	return out
}

// TestFrenchPagesHaveNoEnglish renders every page in French, the home page with the
// built-in purpose, the purpose pages of a proposed, an active and a refused proposal, and
// finds no English: no sentence of the catalogue's English, and no English stopword once the
// test's own content (petition titles and texts, written in English by the harness, the
// requester and neighbourhood names) is taken out.
func TestFrenchPagesHaveNoEnglish(t *testing.T) {
	t.Parallel()
	h := withStudies(t)
	h.propose(t, study("refused-study"), nil)
	h.decide(t, "refused-study", api.EntryPurposeRefuse, api.PurposeDecision{By: purpose.ByOperator, Reason: "hors du périmètre"}, true)
	fragments := englishFragments()
	require.Greater(t, len(fragments), 100)
	ownContent := []string{"Trees for the river", "A closed petition", "Done.", "Plant a hundred trees along the river.",
		"We ask the council to <script>alert(1)</script> act.", "Third paragraph, over two lines.", "North Hill", "South Docks", "East <Island>", requester}
	for _, path := range []string{"/", "/air", "/air?day=2026-10-01", "/about/accuracy", "/petitions",
		"/petitions/" + petitionID, "/petitions/old-one", "/ledger", "/petitions/nope", "/purposes", "/purposes/nope",
		"/purposes/" + studyID, "/purposes/active-study", "/purposes/refused-study", "/purposes/" + airPurpose} {
		_, b := fetch(t, h, path, "Accept-Language", "fr")
		text := pageText(b)
		require.Contains(t, b, `<html lang="fr">`, path)
		assert.NotContains(t, text, "%!", "%s: a message formatted with the wrong arguments", path)
		for _, f := range fragments {
			assert.NotContains(t, text, f, "%s shows English", path)
		}
		for _, own := range ownContent {
			text = strings.ReplaceAll(text, own, " ")
		}
		assert.Empty(t, englishStopwords.FindAllString(text, -1), "%s: English words in %q", path, text)
	}
	home := h.get(t, "/?lang=fr", http.StatusOK)
	assert.Contains(t, home, "Qualité de l&#39;air par quartier", "the built-in purpose's title, in French")
}

// The wallet translates the built-in purpose as the home page does: its French texts are the
// catalogue's.
func TestWalletTranslatesThePurposeAsTheCatalogue(t *testing.T) {
	t.Parallel()
	js, err := os.ReadFile("wallet/web/src/i18n.js")
	require.NoError(t, err)
	air := purpose.AirDaily("")
	for _, en := range []string{air.Title, air.Description} {
		pair, err := json.Marshal(en)
		require.NoError(t, err)
		fr, err := json.Marshal(catalogue[french][en])
		require.NoError(t, err)
		assert.Contains(t, string(js), "    "+string(pair)+":", "the wallet translates %q", en)
		assert.Contains(t, string(js), string(fr), "the wallet's French for %q is the catalogue's", en)
	}
	grid, err := json.Marshal(air.Release.Grid)
	require.NoError(t, err)
	assert.Contains(t, string(js), "    "+string(grid)+":", "the wallet translates the purpose's grid")
}
