package openintent

import (
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// A builder builds one request of the spec for the server at a base URL: a request builder of
// the generated client (gen/client), with its arguments bound by op0..op4. Every request the SDK
// sends is built this way, so the spec's paths and bodies reach the SDK through the compiler
// (TestNoHandWrittenRoutePaths).
type builder func(server string) (*http.Request, error)

// op0 binds a builder without arguments.
func op0(f func(string) (*http.Request, error)) builder { return f }

// op1 binds a builder's argument.
func op1[A any](f func(string, A) (*http.Request, error), a A) builder {
	return func(s string) (*http.Request, error) { return f(s, a) }
}

// op2 binds a builder's two arguments.
func op2[A, B any](f func(string, A, B) (*http.Request, error), a A, b B) builder {
	return func(s string) (*http.Request, error) { return f(s, a, b) }
}

// op3 binds a builder's three arguments.
func op3[A, B, C any](f func(string, A, B, C) (*http.Request, error), a A, b B, c C) builder {
	return func(s string) (*http.Request, error) { return f(s, a, b, c) }
}

// op4 binds a builder's four arguments.
func op4[A, B, C, D any](f func(string, A, B, C, D) (*http.Request, error), a A, b B, c C, d D) builder {
	return func(s string) (*http.Request, error) { return f(s, a, b, c, d) }
}

// routeOf returns the method and the path (below the base URL) of the request b builds, for an
// error the SDK answers without sending the request.
func (c *Client) routeOf(b builder) (method, path string) {
	req := request{build: b}
	_, _, _ = c.built(&req)
	return req.method, req.path
}

// encodeQuery encodes a generated parameters struct (gen/models ...Params) from its `form`
// tags: a field tagged omitempty is left out when zero (the generated builders send zero values
// of optional parameters, as `status=`, which a server reads as a value), a slice is sent as
// repeated keys (form style, exploded), a time in RFC 3339.
func encodeQuery(params any) (string, error) {
	v := reflect.ValueOf(params)
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return "", nil
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return "", fmt.Errorf("query parameters: %T is not a struct", params)
	}
	q := url.Values{}
	t := v.Type()
	for i := range t.NumField() {
		tag, ok := t.Field(i).Tag.Lookup("form")
		if !ok || tag == "-" {
			continue
		}
		name, opt, _ := strings.Cut(tag, ",")
		f := v.Field(i)
		if opt == "omitempty" && f.IsZero() {
			continue
		}
		for f.Kind() == reflect.Pointer {
			if f.IsNil() {
				break
			}
			f = f.Elem()
		}
		if f.Kind() == reflect.Pointer {
			continue // nil: not sent
		}
		if f.Kind() == reflect.Slice {
			for j := range f.Len() {
				s, err := queryValue(f.Index(j))
				if err != nil {
					return "", fmt.Errorf("query parameter %s: %w", name, err)
				}
				q.Add(name, s)
			}
			continue
		}
		s, err := queryValue(f)
		if err != nil {
			return "", fmt.Errorf("query parameter %s: %w", name, err)
		}
		q.Set(name, s)
	}
	return q.Encode(), nil
}

// queryValue formats one query parameter value.
func queryValue(v reflect.Value) (string, error) {
	if t, ok := v.Interface().(time.Time); ok {
		return t.UTC().Format(time.RFC3339Nano), nil
	}
	switch v.Kind() {
	case reflect.String:
		return v.String(), nil
	case reflect.Bool:
		return strconv.FormatBool(v.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10), nil
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64), nil
	}
	return "", fmt.Errorf("unsupported type %s", v.Type())
}
