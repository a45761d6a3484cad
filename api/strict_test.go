package api

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

type inner struct {
	Name string `json:"name"`
}

type embedded struct {
	Signature string `json:"signature"`
	Inner     inner  `json:"inner"`
}

type outer struct {
	embedded
	Count int             `json:"count"`
	Items []inner         `json:"items,omitempty"`
	Tags  map[string]int  `json:"tags,omitempty"`
	When  time.Time       `json:"when"`
	Raw   json.RawMessage `json:"raw,omitempty"`
	Blob  []byte          `json:"blob,omitempty"`
}

func TestDecodeStrict(t *testing.T) {
	t.Parallel()
	ok := []string{
		`{"signature":"s","inner":{"name":"n"},"count":1,"items":[{"name":"a"}],"tags":{"a":1},"when":"2026-01-01T00:00:00Z","raw":{"x":1,"x":2},"blob":"AQ=="}`,
		`{"count":2}`,
		` {"inner":null} `,
	}
	for _, b := range ok {
		var v outer
		if err := DecodeStrict([]byte(b), &v); err != nil {
			t.Errorf("%s: %v", b, err)
		}
	}
	refused := map[string]error{
		`{"count":1,"count":2}`:                 ErrAmbiguous,
		`{"count":1,"COUNT":1000000}`:           ErrAmbiguous,
		`{"COUNT":1}`:                           ErrAmbiguous,
		`{"inner":{"name":"a","Name":"b"}}`:     ErrAmbiguous,
		`{"items":[{"name":"a"},{"NAME":"b"}]}`: ErrAmbiguous,
		`{"tags":{"a":1,"a":2}}`:                ErrAmbiguous,
		`{"Signature":"s"}`:                     ErrAmbiguous,
		`{"other":1}`:                           ErrMalformed,
		`{"count":1} {"count":2}`:               ErrMalformed,
		`{"count":1} x`:                         ErrMalformed,
		`{"count":"1"}`:                         ErrMalformed,
		`{"count":1`:                            ErrMalformed,
		`[1]`:                                   ErrMalformed,
		`{"inner":[{"name":"a"}]}`:              ErrMalformed,
	}
	for b, want := range refused {
		var v outer
		if err := DecodeStrict([]byte(b), &v); !errors.Is(err, want) {
			t.Errorf("%s: got %v, want %v", b, err, want)
		}
	}
	var deep any
	nested := strings.Repeat(`{"a":`, 20000) + "1" + strings.Repeat("}", 20000)
	if err := DecodeStrict([]byte(nested), &deep); !errors.Is(err, ErrMalformed) {
		t.Errorf("20,000 nested objects: got %v, want ErrMalformed", err)
	}
}

func TestDecodeCanonical(t *testing.T) {
	t.Parallel()
	closes := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	doc := Petition{ID: "p", Title: "Trees <here> & there", Text: "é", Scope: []string{"n1"}, Opens: closes.Add(-time.Hour), Closes: closes, Threshold: 10}
	b, err := Canonical(doc)
	if err != nil {
		t.Fatal(err)
	}
	var got Petition
	if err := DecodeCanonical(b, &got); err != nil || got.Title != doc.Title {
		t.Fatalf("the canonical encoding is refused: %v (%+v)", err, got)
	}
	refused := map[string]error{
		`{"petition":"p","count":1,"COUNT":1000000}`:   ErrAmbiguous,
		`{"petition":"p","count":1,"count":1000000}`:   ErrAmbiguous,
		`{"count":1,"petition":"p"}`:                   ErrNotCanonical, // key order
		`{"petition":"p", "count":1}`:                  ErrNotCanonical, // white space
		`{"petition":"p","count":1.0}`:                 ErrMalformed,
		`{"petition":"p","count":1e0}`:                 ErrMalformed,
		`{"petition":"\u0070","count":1}`:              ErrNotCanonical, // escape
		`{"petition":"p","count":1,"note":""}`:         ErrNotCanonical, // empty omitempty field
		`{"petition":"p","count":1,"note":"a\u003cb"}`: nil,
		`{"petition":"p","count":1,"note":"a<b"}`:      ErrNotCanonical,
	}
	for b, want := range refused {
		var p Paper
		if err := DecodeCanonical([]byte(b), &p); !errors.Is(err, want) || (want == nil) != (err == nil) {
			t.Errorf("%s: got %v, want %v", b, err, want)
		}
	}
	title := `{"id":"p","title":"A","title":"B","text":"","scope":null,"opens":"2026-01-01T00:00:00Z","closes":"2026-02-01T00:00:00Z","threshold":10}`
	if err := DecodeCanonical([]byte(title), &got); !errors.Is(err, ErrAmbiguous) {
		t.Errorf("a title given twice: got %v, want ErrAmbiguous", err)
	}
	offset := `{"id":"p","title":"A","text":"","scope":null,"opens":"2026-01-01T00:00:00.000Z","closes":"2026-02-01T00:00:00Z","threshold":10}`
	if err := DecodeCanonical([]byte(offset), &got); !errors.Is(err, ErrNotCanonical) {
		t.Errorf("a time with zero milliseconds: got %v, want ErrNotCanonical", err)
	}
}
