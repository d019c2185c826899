package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/openintent-go/openintent/gen/models"
	genserver "github.com/openintent-go/openintent/gen/server"
)

// route is one operation of the spec, keyed by its ServeMux pattern ("POST /api/v1/intents").
type route struct {
	*routers.Route
	public     bool
	pathParams []string
	checks     []check // the operation's access rule (authz.go)
	// claimedFirst tells that the operation is one of claimedBeforeEffects (idempotency.go).
	claimedFirst bool
	body         *bodyRules // what its JSON body may hold (wire.go)
	timeParams   []string   // its date-time query parameters (wire.go)
}

type routeTable struct {
	byPattern map[string]*route
}

var pathParamRE = regexp.MustCompile(`\{([^}]+)\}`)

func newRouteTable(spec *openapi3.T) (*routeTable, error) {
	t := &routeTable{byPattern: map[string]*route{}}
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			// The authenticator checks credentials; kin-openapi's pass over the security
			// requirements would only read the body once more, so it validates an operation
			// without them.
			unsecured := *op
			unsecured.Security = &openapi3.SecurityRequirements{}
			rt := &route{Route: &routers.Route{Spec: spec, Path: path, PathItem: item, Method: method, Operation: &unsecured}}
			rt.public = op.Security != nil && len(*op.Security) == 0
			rt.claimedFirst = claimedBeforeEffects[strings.ToLower(op.OperationID)]
			rt.body, rt.timeParams = newBodyRules(op), timeQueryParams(op, item)
			for _, m := range pathParamRE.FindAllStringSubmatch(path, -1) {
				rt.pathParams = append(rt.pathParams, m[1])
			}
			t.byPattern[method+" "+path] = rt
		}
	}
	if len(t.byPattern) == 0 {
		return nil, errors.New("server: the spec has no operations")
	}
	return t, nil
}

var validationOptions = &openapi3filter.Options{
	MultiError:              true,
	AuthenticationFunc:      openapi3filter.NoopAuthenticationFunc,
	SchemaValidationOptions: requestFormats,
}

// validateRequest checks each request's parameters and body against its operation in the spec
// and answers 4xx naming every offending field; the body is then handed on unchanged.
func (t *routeTable) validateRequest(log *slog.Logger) genserver.MiddlewareFunc {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rt := t.byPattern[r.Pattern]
			if rt == nil {
				next.ServeHTTP(w, r)
				return
			}
			if rt.Operation.RequestBody != nil {
				body, err := bufferBody(r)
				if err != nil {
					writeError(w, r, log, badBody(err))
					return
				}
				if len(bytes.TrimSpace(body)) > 0 {
					if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
						writeError(w, r, log, &apiError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type",
							detail: "Content-Type must be application/json", fields: []models.FieldError{{Field: "Content-Type", Message: "must be application/json"}}})
						return
					}
				}
				if msg := checkJSONShape(body); msg != "" {
					writeError(w, r, log, validationFailed("body", msg))
					return
				}
				if len(bytes.TrimSpace(body)) > 0 {
					ignored, aerr := rt.body.checkBody(body)
					if aerr != nil {
						writeError(w, r, log, aerr)
						return
					}
					if len(ignored) > 0 {
						w.Header().Set(IgnoredFieldsHeader, strings.Join(ignored, ", "))
					}
				}
				defer func() { r.Body = io.NopCloser(bytes.NewReader(body)) }()
				r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
			}
			params := make(map[string]string, len(rt.pathParams))
			for _, p := range rt.pathParams {
				params[p] = r.PathValue(p)
			}
			in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: rt.Route, Options: validationOptions}
			if err := openapi3filter.ValidateRequest(r.Context(), in); err != nil {
				writeError(w, r, log, requestValidationError(err))
				return
			}
			if r.GetBody != nil {
				r.Body, _ = r.GetBody()
			}
			next.ServeHTTP(w, r)
		})
	}
}

// MaxJSONDepth is how deeply request JSON may nest.
const MaxJSONDepth = 64

// checkJSONShape refuses bodies that are not UTF-8 or nest deeper than MaxJSONDepth, before any
// decoder spends time on them.
func checkJSONShape(b []byte) string {
	if !utf8.Valid(b) {
		return "not valid UTF-8"
	}
	depth, inString, escaped := 0, false, false
	for _, c := range b {
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			if depth++; depth > MaxJSONDepth {
				return fmt.Sprintf("nested deeper than %d levels", MaxJSONDepth)
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return ""
}

// requestValidationError turns kin-openapi's errors into one 422 (400 for If-Match) naming each
// field.
func requestValidationError(err error) *apiError {
	var fields []models.FieldError
	collectFieldErrors(err, &fields)
	if len(fields) == 0 {
		fields = []models.FieldError{{Field: "body", Message: "invalid request"}}
	}
	for _, f := range fields {
		if f.Field == "If-Match" {
			e := badRequest("if_match_required", "If-Match header required")
			e.fields = fields
			return e
		}
	}
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return &apiError{status: http.StatusUnprocessableEntity, code: "validation_error", detail: strings.Join(parts, "; "), fields: fields}
}

func collectFieldErrors(err error, out *[]models.FieldError) {
	switch e := err.(type) {
	case openapi3.MultiError:
		for _, x := range e {
			collectFieldErrors(x, out)
		}
	case *openapi3filter.RequestError:
		field := "body"
		if e.Parameter != nil {
			field = e.Parameter.Name
		}
		if e.Err == nil {
			*out = append(*out, models.FieldError{Field: field, Message: e.Reason})
			return
		}
		appendSchemaError(field, e.Parameter != nil, e.Err, out)
	default:
		*out = append(*out, models.FieldError{Field: "body", Message: err.Error()})
	}
}

func appendSchemaError(field string, isParam bool, err error, out *[]models.FieldError) {
	switch e := err.(type) {
	case *openapi3.SchemaError:
		if !isParam {
			if ptr := e.JSONPointer(); len(ptr) > 0 {
				field = strings.Join(ptr, "/")
			}
		}
		*out = append(*out, models.FieldError{Field: field, Message: e.Reason})
	case openapi3.MultiError:
		for _, x := range e {
			appendSchemaError(field, isParam, x, out)
		}
	case *openapi3filter.ParseError:
		msg := e.Reason
		if msg == "" && e.Cause != nil {
			msg = e.Cause.Error()
		}
		*out = append(*out, models.FieldError{Field: field, Message: "cannot be parsed: " + msg})
	default:
		var se *openapi3.SchemaError
		if errors.As(err, &se) {
			appendSchemaError(field, isParam, se, out)
			return
		}
		*out = append(*out, models.FieldError{Field: field, Message: err.Error()})
	}
}

// ResponseValidator wraps a handler (normally a Server) and checks every JSON response against
// the spec, calling report with each mismatch. Tests use it to prove the server speaks the spec.
//
// A 501 `not_implemented` answer (an operation the server does not implement yet) is not checked.
// The payload of every intent event in a response is checked against its type's schema
// (EventType's x-payload-schemas).
func ResponseValidator(next http.Handler, report func(r *http.Request, err error)) (http.Handler, error) {
	spec, err := sharedSpec()
	if err != nil {
		return nil, err
	}
	t, err := newRouteTable(spec)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	for pattern := range t.byPattern {
		mux.HandleFunc(pattern, func(http.ResponseWriter, *http.Request) {})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pattern := mux.Handler(r)
		rt := t.byPattern[pattern]
		if rt == nil || strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
			next.ServeHTTP(w, r)
			return
		}
		rec := &recordingWriter{ResponseWriter: w}
		reqCopy := r.Clone(r.Context())
		next.ServeHTTP(rec, r)
		if rec.status == http.StatusNotImplemented && bytes.Contains(rec.body.Bytes(), []byte(`"not_implemented"`)) {
			return // an operation this server does not implement yet: its documented responses do not apply
		}
		if r.Context().Err() != nil {
			return // the client went away: nobody receives this response
		}
		params := map[string]string{}
		if m := matchPath(rt.Path, r.URL.Path); m != nil {
			params = m
		}
		in := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: reqCopy, PathParams: params, Route: rt.Route, Options: validationOptions},
			Status:                 rec.status,
			Header:                 rec.Header(),
			Body:                   io.NopCloser(bytes.NewReader(rec.body.Bytes())),
			Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
		}
		if err := openapi3filter.ValidateResponse(r.Context(), in); err != nil {
			report(r, fmt.Errorf("%s %s -> %d: response does not match the spec: %w\nbody: %s", r.Method, r.URL.Path, rec.status, err, rec.body.String()))
		}
		if err := checkEventPayloads(rec.body.Bytes()); err != nil { // the typed event model (eventcheck.go)
			report(r, fmt.Errorf("%s %s -> %d: %w", r.Method, r.URL.Path, rec.status, err))
		}
	}), nil
}

func matchPath(tmpl, path string) map[string]string {
	ts, ps := strings.Split(tmpl, "/"), strings.Split(path, "/")
	if len(ts) != len(ps) {
		return nil
	}
	out := map[string]string{}
	for i, s := range ts {
		if strings.HasPrefix(s, "{") {
			out[strings.Trim(s, "{}")] = ps[i]
		} else if s != ps[i] {
			return nil
		}
	}
	return out
}

type recordingWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (rw *recordingWriter) WriteHeader(code int) {
	if rw.status == 0 {
		rw.status = code
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *recordingWriter) Write(b []byte) (int, error) {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	rw.body.Write(b)
	return rw.ResponseWriter.Write(b)
}

func (rw *recordingWriter) Flush() {
	if f, ok := rw.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// bufferedBody is a request body read into memory, so that the middlewares that need it whole
// (idempotency, validation) read it from the network once.
type bufferedBody struct {
	*bytes.Reader
	b []byte
}

func (bufferedBody) Close() error { return nil }

// bufferBody returns r's whole body, reading it once and leaving r.Body at its start.
func bufferBody(r *http.Request) ([]byte, error) {
	if bb, ok := r.Body.(bufferedBody); ok {
		bb.Seek(0, io.SeekStart)
		return bb.b, nil
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	r.Body = bufferedBody{Reader: bytes.NewReader(b), b: b}
	return b, nil
}
