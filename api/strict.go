package api

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// Refusals of the strict decoders. Their messages are safe to show to clients.
var (
	// ErrMalformed: not JSON, trailing data, an unknown field, or a value of the wrong type.
	ErrMalformed = errors.New("api: not JSON of the expected shape")
	// ErrAmbiguous: an object repeats a key, or spells a key in another case than its field's
	// name, so that readers could read it two ways.
	ErrAmbiguous = errors.New("api: a key is repeated or differs from its field's name in case")
	// ErrNotCanonical: the JSON reads as the type, but is not its one canonical encoding.
	ErrNotCanonical = errors.New("api: not the canonical encoding of the document")
)

// DecodeStrict decodes b into v (a pointer) so that every reader of b reads the same value:
// besides refusing unknown fields and trailing data, it refuses any object with a repeated key
// and any key that is not exactly its field's JSON name (encoding/json would otherwise match
// keys case-insensitively and keep the last of repeated keys). Values the type reads as text
// (times, json.RawMessage) are not looked into. It returns ErrMalformed or ErrAmbiguous.
func DecodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := checkKeys(dec, reflect.TypeOf(v), 0); err != nil {
		if errors.Is(err, ErrAmbiguous) {
			return err
		}
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: trailing data", ErrMalformed)
	}
	dec = json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

// Canonical is the canonical encoding of a document (a petition, a paper count, a purpose):
// what encoding/json's Marshal writes for it — fields in their declared order, empty
// omitempty fields left out, no white space, strings with <, > and & escaped as \u003c,
// \u003e and \u0026, times in RFC 3339 with the offset they were given.
func Canonical(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("api: canonical: %w", err)
	}
	return b, nil
}

// DecodeCanonical decodes a signed or hashed document b into v (a pointer) and accepts it only
// if b is exactly Canonical of what it decodes to: one document, one encoding, whatever
// reader reads it. It returns ErrMalformed, ErrAmbiguous or ErrNotCanonical.
func DecodeCanonical(b []byte, v any) error {
	if err := DecodeStrict(b, v); err != nil {
		return err
	}
	again, err := Canonical(v)
	if err != nil {
		return err
	}
	if !bytes.Equal(again, b) {
		return ErrNotCanonical
	}
	return nil
}

var (
	unmarshalerType     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// maxDepth bounds the nesting checkKeys follows, as encoding/json bounds its own.
const maxDepth = 10000

// checkKeys reads one JSON value from dec, at nesting depth, and checks the keys of its
// objects against t.
func checkKeys(dec *json.Decoder, t reflect.Type, depth int) error {
	if depth > maxDepth {
		return errors.New("nested too deeply")
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || reflect.PointerTo(t).Implements(unmarshalerType) || reflect.PointerTo(t).Implements(textUnmarshalerType) {
		return skipValue(dec)
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil // a scalar: the decoder checks its type
	}
	switch {
	case d == '{' && t.Kind() == reflect.Struct:
		return checkObject(dec, jsonFields(t), nil, depth)
	case d == '{' && t.Kind() == reflect.Map:
		return checkObject(dec, nil, t.Elem(), depth)
	case d == '{' && t.Kind() == reflect.Interface:
		return checkObject(dec, nil, t, depth)
	case d == '[' && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array):
		return checkArray(dec, t.Elem(), depth)
	case d == '[' && t.Kind() == reflect.Interface:
		return checkArray(dec, t, depth)
	}
	return fmt.Errorf("a %v where %v is expected", d, t)
}

// checkObject reads an object's members after its '{': each key once, each key a field's
// exact name in fields, each value checked against that field's type; with fields nil (a
// map), any key, each value checked against elem.
func checkObject(dec *json.Decoder, fields map[string]reflect.Type, elem reflect.Type, depth int) error {
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		folded := strings.ToLower(key)
		if seen[folded] {
			return fmt.Errorf("%w: %q", ErrAmbiguous, key)
		}
		seen[folded] = true
		ft := elem
		if fields != nil {
			var ok bool
			if ft, ok = fields[key]; !ok {
				return unknownKey(key, fields)
			}
		}
		if err := checkKeys(dec, ft, depth+1); err != nil {
			return err
		}
	}
	_, err := dec.Token() // '}'
	return err
}

// unknownKey is the refusal of a key no field has: ErrAmbiguous when a field's name differs
// from it only in case, an unknown field otherwise.
func unknownKey(key string, fields map[string]reflect.Type) error {
	for name := range fields {
		if strings.EqualFold(name, key) {
			return fmt.Errorf("%w: %q", ErrAmbiguous, key)
		}
	}
	return fmt.Errorf("unknown key %q", key)
}

// checkArray reads an array's elements after its '[', each checked against elem.
func checkArray(dec *json.Decoder, elem reflect.Type, depth int) error {
	for dec.More() {
		if err := checkKeys(dec, elem, depth+1); err != nil {
			return err
		}
	}
	_, err := dec.Token() // ']'
	return err
}

// skipValue reads one JSON value from dec without looking into it.
func skipValue(dec *json.Decoder) error {
	var raw json.RawMessage
	return dec.Decode(&raw)
}

// jsonFields maps the exact JSON names of a struct's fields, with those of embedded structs
// promoted, to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range jsonFields(ft) {
					if _, shadowed := out[k]; !shadowed {
						out[k] = v
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}
