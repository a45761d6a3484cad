package dashboards

import (
	"bufio"
	"bytes"
	"html/template"
	"net/url"
	"strconv"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	ghtml "github.com/yuin/goldmark/renderer/html"
	"github.com/yuin/goldmark/text"
)

// markdownParser parses CommonMark; it renders nothing itself: renderMarkdown walks the tree.
var markdownParser = goldmark.New().Parser()

// renderMarkdown renders an organiser's petition text as HTML for the petition page. It is an
// allow-list renderer over goldmark's syntax tree: paragraphs, emphasis, lists, and links whose
// destination is an absolute http or https URL. Everything else — raw HTML, images, headings,
// code, other link schemes — is shown as escaped text, and every text byte goes through
// goldmark's HTML escaper, so the result is safe to mark as template.HTML.
func renderMarkdown(src string) template.HTML {
	source := []byte(src)
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	renderNode(w, markdownParser.Parse(text.NewReader(source)), source)
	w.Flush()
	return template.HTML(b.String())
}

func renderChildren(w *bufio.Writer, n ast.Node, source []byte) {
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		renderNode(w, c, source)
	}
}

// renderLines writes a block's raw lines as one escaped paragraph.
func renderLines(w *bufio.Writer, n ast.Node, source []byte) {
	lines := n.Lines()
	if lines.Len() == 0 {
		return
	}
	w.WriteString("<p>")
	for i := 0; i < lines.Len(); i++ {
		seg := lines.At(i)
		ghtml.DefaultWriter.RawWrite(w, seg.Value(source))
	}
	w.WriteString("</p>\n")
}

func renderNode(w *bufio.Writer, n ast.Node, source []byte) {
	switch n := n.(type) {
	case *ast.Paragraph, *ast.Heading:
		w.WriteString("<p>")
		renderChildren(w, n, source)
		w.WriteString("</p>\n")
	case *ast.List:
		tag := "ul"
		if n.IsOrdered() {
			tag = "ol"
		}
		w.WriteString("<" + tag)
		if n.IsOrdered() && n.Start != 1 {
			w.WriteString(` start="` + strconv.Itoa(n.Start) + `"`)
		}
		w.WriteString(">\n")
		renderChildren(w, n, source)
		w.WriteString("</" + tag + ">\n")
	case *ast.ListItem:
		w.WriteString("<li>")
		renderChildren(w, n, source)
		w.WriteString("</li>\n")
	case *ast.Emphasis:
		tag := "em"
		if n.Level >= 2 {
			tag = "strong"
		}
		w.WriteString("<" + tag + ">")
		renderChildren(w, n, source)
		w.WriteString("</" + tag + ">")
	case *ast.Link:
		if href, ok := safeLink(string(n.Destination)); ok {
			w.WriteString(`<a href="` + template.HTMLEscapeString(href) + `" rel="nofollow noopener noreferrer">`)
			renderChildren(w, n, source)
			w.WriteString("</a>")
			return
		}
		renderChildren(w, n, source)
	case *ast.AutoLink:
		label := n.Label(source)
		if href, ok := safeLink(string(n.URL(source))); ok && n.AutoLinkType == ast.AutoLinkURL {
			w.WriteString(`<a href="` + template.HTMLEscapeString(href) + `" rel="nofollow noopener noreferrer">`)
			ghtml.DefaultWriter.RawWrite(w, label)
			w.WriteString("</a>")
			return
		}
		ghtml.DefaultWriter.RawWrite(w, label)
	case *ast.Text:
		ghtml.DefaultWriter.Write(w, n.Value(source))
		if n.SoftLineBreak() || n.HardLineBreak() {
			w.WriteString("\n")
		}
	case *ast.String:
		ghtml.DefaultWriter.Write(w, n.Value)
	case *ast.RawHTML:
		for i := 0; i < n.Segments.Len(); i++ {
			seg := n.Segments.At(i)
			ghtml.DefaultWriter.RawWrite(w, seg.Value(source))
		}
	case *ast.HTMLBlock, *ast.CodeBlock, *ast.FencedCodeBlock:
		renderLines(w, n, source)
	case *ast.ThematicBreak:
	default:
		// Documents, text blocks, blockquotes, code spans, images (their alt text): the
		// content, without the element.
		renderChildren(w, n, source)
	}
}

// safeLink accepts an absolute http or https URL with a host, and returns it re-encoded.
func safeLink(dest string) (string, bool) {
	if strings.ContainsAny(dest, "\x00\t\r\n ") {
		return "", false
	}
	u, err := url.Parse(dest)
	if err != nil || u.Host == "" || u.User != nil {
		return "", false
	}
	if s := strings.ToLower(u.Scheme); s != "http" && s != "https" {
		return "", false
	}
	return u.String(), true
}
