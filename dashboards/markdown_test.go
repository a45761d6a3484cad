package dashboards

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestMarkdownAllowsTheSmallSubset(t *testing.T) {
	t.Parallel()
	got := string(renderMarkdown("We ask for **200 trees** and *shade*.\n\nSee [the plan](https://example.org/plan?a=1&b=2).\n\n- one\n- two\n\n1. first\n2. second\n\n<https://example.org/auto>"))
	assert.Equal(t, `<p>We ask for <strong>200 trees</strong> and <em>shade</em>.</p>
<p>See <a href="https://example.org/plan?a=1&amp;b=2" rel="nofollow noopener noreferrer">the plan</a>.</p>
<ul>
<li>one</li>
<li>two</li>
</ul>
<ol>
<li>first</li>
<li>second</li>
</ol>
<p><a href="https://example.org/auto" rel="nofollow noopener noreferrer">https://example.org/auto</a></p>
`, got)
}

// TestMarkdownRefusesXSS feeds the usual attacks: none may produce an element, attribute or
// URL scheme outside the allow-list.
func TestMarkdownRefusesXSS(t *testing.T) {
	t.Parallel()
	for _, attack := range []string{
		`<script>alert(1)</script>`,
		"<script>\nalert(1)\n</script>",
		`<img src=x onerror=alert(1)>`,
		`Hello <b onmouseover="alert(1)">there</b>`,
		`[click](javascript:alert(1))`,
		`[click](JaVaScRiPt:alert(1))`,
		`[click](  javascript:alert(1)  )`,
		`[click](java&#115;cript:alert(1))`,
		`[click](&#x6A;avascript:alert(1))`,
		`[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)`,
		`[click](vbscript:msgbox(1))`,
		`[click](//evil.example/x)`,
		`[click](https://ok.example/"onmouseover="alert(1))`,
		`[click](https://ok.example "title\" onmouseover=\"alert(1)")`,
		`<javascript:alert(1)>`,
		`![x](https://evil.example/x.png" onerror="alert(1))`,
		`![x" onerror="alert(1)](https://evil.example/x.png)`,
		"```html\n<script>alert(1)</script>\n```",
		"    <iframe src=https://evil.example></iframe>",
		`&lt;script&gt;alert(1)&lt;/script&gt;`,
		`<a href="javascript:alert(1)">x</a>`,
		"<style>body{display:none}</style>",
		`[x](https://user:pass@evil.example/)`,
		"# <svg onload=alert(1)>",
	} {
		got := string(renderMarkdown(attack))
		lower := strings.ToLower(got)
		for _, bad := range []string{"<script", "<img", "<iframe", "<style", "<svg", "<b ", "onerror=", "onmouseover=", "onload=", "javascript:", "vbscript:", "data:", `href="//`, "user:pass"} {
			if bad == "javascript:" || bad == "vbscript:" || bad == "data:" || bad == "onerror=" || bad == "onmouseover=" || bad == "onload=" || bad == "user:pass" {
				// Allowed as escaped text only, never inside an href.
				assert.NotContains(t, lower, `href="`+bad, "%q rendered as %q", attack, got)
				continue
			}
			assert.NotContains(t, lower, bad, "%q rendered as %q", attack, got)
		}
		for _, tag := range tagsIn(got) {
			assert.Contains(t, []string{"p", "/p", "em", "/em", "strong", "/strong", "ul", "/ul", "ol", "/ol", "li", "/li", "a", "/a"}, tag,
				"%q rendered as %q", attack, got)
		}
		if strings.Contains(got, "<a ") {
			assert.Regexp(t, `^(?s).*<a href="https?://[^"<> ]+" rel="nofollow noopener noreferrer">`, got, "%q", attack)
		}
	}
}

// tagsIn returns the element names of every tag in HTML: whatever follows each '<'.
func tagsIn(html string) []string {
	var tags []string
	for _, part := range strings.Split(html, "<")[1:] {
		name, _, _ := strings.Cut(part, ">")
		name, _, _ = strings.Cut(name, " ")
		tags = append(tags, name)
	}
	return tags
}
