package main

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"

	"github.com/embatch/embatch/task"
)

// jsonKind is the kind of a parsed JSON value.
type jsonKind uint8

// JSON kinds. The zero value is invalid.
const (
	kindInvalid jsonKind = iota
	kindNull
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

var kindNames = [...]string{"invalid", "null", "a boolean", "a number", "a string", "an array", "an object"}

// String describes the kind for error messages ("a string").
func (k jsonKind) String() string { return kindNames[k] }

// jsonValue is a parsed JSON value that remembers where it was in its file,
// so that errors found long after decoding (by validation, by the dry run)
// can still point at a line. Objects keep their keys in file order.
type jsonValue struct {
	kind jsonKind
	// off is the 1-based byte position of the value's first byte.
	off int64
	// str is the text of a string, or the literal of a number.
	str     string
	b       bool
	keys    []string     // object keys, in file order
	keyOffs []int64      // 1-based byte positions of the keys, parallel to keys
	vals    []*jsonValue // object values, parallel to keys
	elems   []*jsonValue // array elements
}

// field returns the value of an object's key, or nil.
func (v *jsonValue) field(key string) *jsonValue {
	if v == nil || v.kind != kindObject {
		return nil
	}
	for i, k := range v.keys {
		if k == key {
			return v.vals[i]
		}
	}
	return nil
}

// parseJSON parses one JSON value from data; trailing data is an error.
// Errors are *inputError carrying the offset of the problem.
func parseJSON(data []byte) (*jsonValue, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	p := &jsonParser{dec: dec, data: data}
	v, err := p.value()
	if err != nil {
		return nil, syntaxError(dec, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &inputError{Offset: dec.InputOffset(), Msg: "unexpected data after the JSON value"}
	}
	return v, nil
}

// jsonParser builds a jsonValue tree from a decoder's tokens.
type jsonParser struct {
	dec  *json.Decoder
	data []byte
}

// token reads the next token and returns it with the offset of its first
// byte: the decoder's offset before a token includes the white space and
// separators that precede it, which are skipped here.
func (p *jsonParser) token() (json.Token, int64, error) {
	off := p.dec.InputOffset()
	tok, err := p.dec.Token()
	for off < int64(len(p.data)) && strings.IndexByte(" \t\r\n:,", p.data[off]) >= 0 {
		off++
	}
	return tok, off, err
}

// syntaxError turns a decoding error into an inputError at its offset.
func syntaxError(dec *json.Decoder, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &inputError{Offset: se.Offset, Msg: "invalid JSON: " + se.Error()}
	}
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return &inputError{Offset: dec.InputOffset(), Msg: "invalid JSON: unexpected end of file"}
	}
	var ie *inputError
	if errors.As(err, &ie) {
		return ie
	}
	return &inputError{Offset: dec.InputOffset(), Msg: "invalid JSON: " + err.Error()}
}

// value parses the next value, recursively.
func (p *jsonParser) value() (*jsonValue, error) {
	tok, off, err := p.token()
	if err != nil {
		return nil, err
	}
	v := &jsonValue{off: off + 1} // 1-based, so that 0 means unknown
	switch t := tok.(type) {
	case nil:
		v.kind = kindNull
	case bool:
		v.kind, v.b = kindBool, t
	case json.Number:
		v.kind, v.str = kindNumber, string(t)
	case string:
		v.kind, v.str = kindString, t
	case json.Delim:
		switch t {
		case '{':
			v.kind = kindObject
			seen := map[string]bool{}
			for p.dec.More() {
				kt, keyOff, err := p.token()
				if err != nil {
					return nil, err
				}
				key := kt.(string) // the decoder guarantees object keys are strings
				if seen[key] {
					return nil, &inputError{Offset: keyOff + 1, Msg: fmt.Sprintf("key %q appears twice in the same object", key)}
				}
				seen[key] = true
				val, err := p.value()
				if err != nil {
					return nil, err
				}
				v.keys = append(v.keys, key)
				v.keyOffs = append(v.keyOffs, keyOff+1)
				v.vals = append(v.vals, val)
			}
		case '[':
			v.kind = kindArray
			for p.dec.More() {
				el, err := p.value()
				if err != nil {
					return nil, err
				}
				v.elems = append(v.elems, el)
			}
		}
		if _, err := p.dec.Token(); err != nil { // the closing delimiter
			return nil, err
		}
	}
	return v, nil
}

// encode returns v as compact JSON.
func (v *jsonValue) encode() []byte {
	return v.appendTo(nil)
}

// appendTo appends v as compact JSON to b.
func (v *jsonValue) appendTo(b []byte) []byte {
	switch v.kind {
	case kindNull:
		return append(b, "null"...)
	case kindBool:
		return strconv.AppendBool(b, v.b)
	case kindNumber:
		return append(b, v.str...)
	case kindString:
		return appendJSONString(b, v.str)
	case kindArray:
		b = append(b, '[')
		for i, el := range v.elems {
			if i > 0 {
				b = append(b, ',')
			}
			b = el.appendTo(b)
		}
		return append(b, ']')
	case kindObject:
		b = append(b, '{')
		for i, k := range v.keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = v.vals[i].appendTo(b)
		}
		return append(b, '}')
	}
	return b
}

// appendJSONString appends s as a JSON string, without HTML escaping.
func appendJSONString(b []byte, s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
}

// maxShownValue bounds how much of a value an error message quotes.
const maxShownValue = 80

// shown is v as an error message quotes it: compact JSON, shortened.
func (v *jsonValue) shown() string {
	s := string(v.encode())
	if len(s) > maxShownValue {
		s = s[:maxShownValue-3] + "..."
	}
	return s
}

// mapStrings returns a copy of v with f applied to every string value
// (object keys are left alone). path is v's JSON path, for f's errors.
func (v *jsonValue) mapStrings(path string, f func(path, s string) (string, error)) (*jsonValue, error) {
	c := *v
	switch v.kind {
	case kindString:
		s, err := f(path, v.str)
		if err != nil {
			return nil, err
		}
		c.str = s
	case kindArray:
		c.elems = make([]*jsonValue, len(v.elems))
		for i, el := range v.elems {
			m, err := el.mapStrings(indexPath(path, i), f)
			if err != nil {
				return nil, err
			}
			c.elems[i] = m
		}
	case kindObject:
		c.vals = make([]*jsonValue, len(v.vals))
		for i, val := range v.vals {
			m, err := val.mapStrings(joinPath(path, v.keys[i]), f)
			if err != nil {
				return nil, err
			}
			c.vals[i] = m
		}
	}
	return &c, nil
}

// joinPath appends an object key to a JSON path.
func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// indexPath appends an array index to a JSON path.
func indexPath(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// lookup finds the value at a JSON path relative to v ("tasks[3].id"), or
// the deepest value on the way to it when the path goes further than the
// document (a missing property), and the part of path it matched.
func (v *jsonValue) lookup(path string) (*jsonValue, string) {
	cur, matched := v, ""
	rest := path
	for rest != "" && cur != nil {
		switch {
		case rest[0] == '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return cur, matched
			}
			i, err := strconv.Atoi(rest[1:end])
			if err != nil || cur.kind != kindArray || i < 0 || i >= len(cur.elems) {
				return cur, matched
			}
			cur, matched, rest = cur.elems[i], matched+rest[:end+1], rest[end+1:]
		default:
			rest = strings.TrimPrefix(rest, ".")
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			next := cur.field(rest[:end])
			if next == nil {
				return cur, matched
			}
			cur, matched, rest = next, joinPath(matched, rest[:end]), rest[end:]
		}
	}
	return cur, matched
}

var (
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// checkType checks that v can be decoded into a Go value of type t the way
// a strict decoder would: every object key names a field (exactly, not
// ignoring case as encoding/json does), every value has the JSON type the
// field wants, integers are integers in range, and types with their own
// decoding (durations) accept their value. null is accepted anywhere, as
// encoding/json does. path is v's JSON path, for errors.
func checkType(v *jsonValue, t reflect.Type, path string) error {
	if v.kind == kindNull {
		return nil
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	bad := func(format string, args ...any) error {
		return &inputError{Offset: v.off, Path: path, Value: v.shown(), Msg: fmt.Sprintf(format, args...)}
	}
	switch pt := reflect.PointerTo(t); {
	case pt.Implements(jsonUnmarshalerType):
		if err := json.Unmarshal(v.encode(), reflect.New(t).Interface()); err != nil {
			return bad("%s", errorMessage(err))
		}
		return nil
	case pt.Implements(textUnmarshalerType):
		if v.kind != kindString {
			return bad("want a string, got %s", v.kind)
		}
		if err := reflect.New(t).Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(v.str)); err != nil {
			return bad("%s", errorMessage(err))
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Interface:
		return nil
	case reflect.String:
		if v.kind != kindString {
			return bad("want a string, got %s", v.kind)
		}
	case reflect.Bool:
		if v.kind != kindBool {
			return bad("want true or false, got %s", v.kind)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if v.kind != kindNumber {
			return bad("want an integer, got %s", v.kind)
		}
		if _, err := strconv.ParseInt(v.str, 10, t.Bits()); err != nil {
			return bad("want an integer between %d and %d", int64(-1)<<(t.Bits()-1), uint64(1)<<(t.Bits()-1)-1)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if v.kind != kindNumber {
			return bad("want a non-negative integer, got %s", v.kind)
		}
		if _, err := strconv.ParseUint(v.str, 10, t.Bits()); err != nil {
			return bad("want an integer between 0 and %d", uint64(1)<<t.Bits()-1)
		}
	case reflect.Float32, reflect.Float64:
		if v.kind != kindNumber {
			return bad("want a number, got %s", v.kind)
		}
	case reflect.Slice, reflect.Array:
		if v.kind != kindArray {
			return bad("want an array, got %s", v.kind)
		}
		for i, el := range v.elems {
			if err := checkType(el, t.Elem(), indexPath(path, i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		if v.kind != kindObject {
			return bad("want an object, got %s", v.kind)
		}
		for i, k := range v.keys {
			if err := checkType(v.vals[i], t.Elem(), joinPath(path, k)); err != nil {
				return err
			}
		}
	case reflect.Struct:
		if v.kind != kindObject {
			return bad("want an object, got %s", v.kind)
		}
		fields := jsonFields(t)
		for i, k := range v.keys {
			ft, ok := fields[k]
			if !ok {
				return &inputError{Offset: v.keyOffs[i], Path: joinPath(path, k), Value: v.vals[i].shown(),
					Msg: "unknown field" + suggestField(k, fields)}
			}
			if err := checkType(v.vals[i], ft, joinPath(path, k)); err != nil {
				return err
			}
		}
	default:
		return bad("cannot be decoded into %s", t)
	}
	return nil
}

// jsonFields maps the JSON names of a struct's fields, including those
// promoted from embedded structs, to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				for k, v := range jsonFields(et) {
					if _, ok := out[k]; !ok {
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

// suggestField returns ` (did you mean "x"?)` for the known field closest
// to key, when one is close enough to be a likely typo.
func suggestField(key string, fields map[string]reflect.Type) string {
	best, bestDist := "", 3
	for name := range fields {
		d := editDistance(strings.ToLower(key), strings.ToLower(name))
		if d < bestDist || d == bestDist && best != "" && name < best {
			best, bestDist = name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// decodeStrict checks v against the type of dst (a pointer) with checkType
// and then decodes it into dst.
func decodeStrict(v *jsonValue, dst any, path string) error {
	if err := checkType(v, reflect.TypeOf(dst), path); err != nil {
		return err
	}
	if err := json.Unmarshal(v.encode(), dst); err != nil {
		// checkType accepted it, so this is a gap in checkType.
		return &inputError{Offset: v.off, Path: path, Msg: err.Error()}
	}
	return nil
}

// errorMessage is the message of an embatch error without its code and
// field, which the caller reports itself, or err's text.
func errorMessage(err error) string {
	var te *task.Error
	if errors.As(err, &te) && te.Message != "" {
		return te.Message
	}
	return err.Error()
}
