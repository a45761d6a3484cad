package dashboards

import (
	"fmt"
	"html/template"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// lang is a language the pages are written in.
type lang string

// The pages' languages; English is the default and the catalogue's keys.
const (
	english lang = "en"
	french  lang = "fr"
)

// languages are the supported languages, in the order the switcher lists them.
var languages = []lang{english, french}

// langName is each language's name in itself, for the switcher.
var langName = map[lang]string{english: "English", french: "Français"}

// langCookie remembers a visitor's explicit choice (a preference, never an identity).
const langCookie = "lang"

// pickLang chooses the page language: ?lang= (remembered in a cookie), then the cookie, then
// Accept-Language, then English.
func pickLang(c *fiber.Ctx) lang {
	if q, ok := supported(c.Query("lang")); ok {
		c.Cookie(&fiber.Cookie{Name: langCookie, Value: string(q), Path: "/", MaxAge: 365 * 24 * 3600,
			SameSite: fiber.CookieSameSiteLaxMode, HTTPOnly: true})
		return q
	}
	if l, ok := supported(c.Cookies(langCookie)); ok {
		return l
	}
	return acceptLanguage(c.Get(fiber.HeaderAcceptLanguage))
}

func supported(s string) (lang, bool) {
	for _, l := range languages {
		if string(l) == s {
			return l, true
		}
	}
	return "", false
}

// acceptLanguage returns the supported language an Accept-Language header prefers most
// (RFC 9110 §12.5.4: q-values, primary subtag match), or English.
func acceptLanguage(header string) lang {
	best, bestQ := english, 0.0
	for part := range strings.SplitSeq(header, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			var err error
			if q, err = strconv.ParseFloat(v, 64); err != nil {
				continue
			}
		}
		primary, _, _ := strings.Cut(strings.ToLower(tag), "-")
		if l, ok := supported(primary); ok && q > bestQ {
			best, bestQ = l, q
		}
	}
	return best
}

// t translates a catalogue key (the English text, a fmt format) into l and formats args.
func (l lang) t(key string, args ...any) string {
	if f, ok := catalogue[l][key]; ok {
		key = f
	}
	if len(args) == 0 {
		return key
	}
	return fmt.Sprintf(key, args...)
}

// html is t for the few messages that carry markup: the message is trusted (it is ours), the
// string arguments are escaped.
func (l lang) html(key string, args ...any) template.HTML {
	escaped := make([]any, len(args))
	for i, a := range args {
		if s, ok := a.(string); ok {
			a = template.HTMLEscapeString(s)
		}
		escaped[i] = a
	}
	return template.HTML(l.t(key, escaped...))
}

// funcs are the template functions of one language.
func (l lang) funcs() template.FuncMap {
	return template.FuncMap{"t": l.t, "th": l.html, "join": func(s []string) string { return strings.Join(s, ", ") },
		"rowOf": rowOf}
}

// switchURL is a page in another language: self is the page's own path and query (never
// more of the request than the page has checked), with lang added.
func switchURL(self string, to lang) string {
	sep := "?"
	if strings.Contains(self, "?") {
		sep = "&"
	}
	return self + sep + "lang=" + url.QueryEscape(string(to))
}

var (
	monthsFR = [...]string{"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
		"septembre", "octobre", "novembre", "décembre"}
	weekdaysFR = [...]string{"dimanche", "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi"}
)

// longDate renders a day as "Friday 2 October 2026" or "vendredi 2 octobre 2026", or as
// given if it is not a date.
func (l lang) longDate(day string) string {
	t, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return day
	}
	if l == french {
		return fmt.Sprintf("%s %d %s %d", weekdaysFR[t.Weekday()], t.Day(), monthsFR[t.Month()-1], t.Year())
	}
	return t.Format("Monday 2 January 2006")
}

// monthYear renders "October 2026" or "octobre 2026".
func (l lang) monthYear(t time.Time) string {
	if l == french {
		return fmt.Sprintf("%s %d", monthsFR[t.Month()-1], t.Year())
	}
	return t.Format("January 2006")
}

// shortDay renders "Fri 2" or "ven. 2".
func (l lang) shortDay(t time.Time) string {
	if l == french {
		return fmt.Sprintf("%s. %d", weekdaysFR[t.Weekday()][:3], t.Day())
	}
	return t.Format("Mon 2")
}

// shortMonth renders "Oct" or "oct.".
func (l lang) shortMonth(t time.Time) string {
	if l == french {
		m := monthsFR[t.Month()-1]
		if r := []rune(m); len(r) > 4 {
			return string(r[:4]) + "."
		}
		return m
	}
	return t.Format("Jan")
}

// dateTime renders "2 October 2026, 12:00 UTC" or "2 octobre 2026, 12:00 UTC".
func (l lang) dateTime(t time.Time) string {
	t = t.UTC()
	if l == french {
		return fmt.Sprintf("%d %s %d, %s UTC", t.Day(), monthsFR[t.Month()-1], t.Year(), t.Format("15:04"))
	}
	return t.Format("2 January 2006, 15:04 UTC")
}
