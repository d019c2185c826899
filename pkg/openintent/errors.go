package openintent

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors for errors.Is. Every error the server answers matches exactly one category
// through (*APIError).Is; version and lease conflicts also match ErrConflict.
var (
	// ErrNotFound: the resource does not exist (404).
	ErrNotFound = errors.New("openintent: not found")
	// ErrConflict: any 409.
	ErrConflict = errors.New("openintent: conflict")
	// ErrVersionConflict: the If-Match version is stale (409).
	ErrVersionConflict = errors.New("openintent: version conflict")
	// ErrLeaseConflict: another lease holds the scope (409).
	ErrLeaseConflict = errors.New("openintent: lease conflict")
	// ErrValidation: the request was rejected as invalid (400, 422).
	ErrValidation = errors.New("openintent: invalid request")
	// ErrUnauthenticated: the API key is missing or unknown (401).
	ErrUnauthenticated = errors.New("openintent: unauthenticated")
	// ErrPermissionDenied: the caller may not do this (403).
	ErrPermissionDenied = errors.New("openintent: permission denied")
	// ErrRateLimited: too many requests (429).
	ErrRateLimited = errors.New("openintent: rate limited")
	// ErrServer: the server failed (5xx).
	ErrServer = errors.New("openintent: server error")
	// ErrLeaseLost: WithLease could not keep its lease; the work's context is cancelled with it.
	ErrLeaseLost = errors.New("openintent: lease lost")
)

// APIError is an error answer of the server. The typed errors (NotFoundError,
// VersionConflictError, ...) wrap it, so errors.As(err, &apiErr) works for all of them.
//
// An argument the client refuses before sending anything (a missing title, a version below 1,
// an empty id, a negative limit, an invalid option) is an APIError too, wrapped in a
// *ValidationError matching ErrValidation: its StatusCode is 0, Op names the method or option,
// and Detail and FieldErrors say what is wrong.
type APIError struct {
	// StatusCode is the HTTP status (0 for an argument the client refused before sending).
	StatusCode int
	// Op is the SDK method the error came from (for example "GetIntent", or "GetMemoryValue"
	// for a request it sent on the caller's behalf), or the option that was refused.
	Op string
	// Method and Path are the request's method and path (empty when nothing was sent).
	Method, Path string
	// Detail is the server's message.
	Detail string
	// Code is the machine-readable error code when the server sent one.
	Code string
	// RequestID is the X-Request-ID of the response, for the server's logs.
	RequestID string
	// Body is the raw response body (at most 64 KiB).
	Body []byte
	// FieldErrors lists the invalid fields of a validation error.
	FieldErrors []FieldError
	// CurrentVersion is the resource's current version on a version conflict (0 when the server
	// did not say).
	CurrentVersion int64
	// ExistingLease is the lease holding the scope on a lease conflict (nil when the server did
	// not say).
	ExistingLease *Lease
	// RetryAfter is the server's Retry-After, if any.
	RetryAfter time.Duration
}

// Error formats the SDK method, the request's method and path, the status, the message (each
// field error once) and the request ID. It never contains credentials.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("openintent: ")
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	if e.Method != "" || e.Path != "" {
		fmt.Fprintf(&b, "%s %s: ", e.Method, e.Path)
	}
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, "%d %s", e.StatusCode, strings.ToLower(http.StatusText(e.StatusCode)))
		if e.Detail != "" {
			b.WriteString(": ")
		}
	}
	b.WriteString(e.Detail)
	for _, f := range e.FieldErrors {
		// Our server's detail already says "field: message" for each field error.
		if strings.Contains(e.Detail, f.Message) && (e.StatusCode == 0 || strings.Contains(e.Detail, f.Field)) {
			continue
		}
		fmt.Fprintf(&b, "; %s: %s", f.Field, f.Message)
	}
	if e.CurrentVersion > 0 {
		fmt.Fprintf(&b, " (current version %d)", e.CurrentVersion)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " [request %s]", e.RequestID)
	}
	return b.String()
}

// Is matches the sentinel of the error's category.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrConflict:
		return e.StatusCode == http.StatusConflict
	case ErrVersionConflict:
		return e.StatusCode == http.StatusConflict && e.conflictKind() == ErrVersionConflict
	case ErrLeaseConflict:
		return e.StatusCode == http.StatusConflict && e.conflictKind() == ErrLeaseConflict
	case ErrValidation:
		return e.StatusCode == http.StatusBadRequest || e.StatusCode == http.StatusUnprocessableEntity ||
			e.StatusCode == 0 // refused by the client (invalidArg)
	case ErrUnauthenticated:
		return e.StatusCode == http.StatusUnauthorized
	case ErrPermissionDenied:
		return e.StatusCode == http.StatusForbidden
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests
	case ErrServer:
		return e.StatusCode >= 500
	}
	return false
}

// conflictKind tells version from lease conflicts, by code, body fields, or (for servers that
// send only a message) the message.
func (e *APIError) conflictKind() error {
	switch e.Code {
	case "version_conflict":
		return ErrVersionConflict
	case "lease_conflict":
		return ErrLeaseConflict
	case "":
	default:
		return nil // another conflict with its own code (e.g. invalid_transition)
	}
	detail := strings.ToLower(e.Detail)
	switch {
	case e.CurrentVersion > 0 || strings.Contains(detail, "version conflict"):
		return ErrVersionConflict
	case e.ExistingLease != nil || strings.Contains(detail, "lease"):
		return ErrLeaseConflict
	}
	return nil
}

// NotFoundError is a 404.
type NotFoundError struct{ *APIError }

// VersionConflictError is a 409 on a stale If-Match; CurrentVersion says the current one when
// the server sent it.
type VersionConflictError struct{ *APIError }

// LeaseConflictError is a 409 because another lease holds the scope; ExistingLease is that
// lease when the server sent it.
type LeaseConflictError struct{ *APIError }

// ConflictError is any other 409.
type ConflictError struct{ *APIError }

// ValidationError is a 400 or 422, or an argument the client refused before sending anything
// (StatusCode 0); FieldErrors names the invalid fields.
type ValidationError struct{ *APIError }

// invalidArg returns the *ValidationError of an argument (or option) the client refuses before
// sending anything: op is the SDK method or option, field the argument at fault, and the
// formatted message says what is wrong (naming the field). When op was reached through another
// SDK method the caller called (RequestInput calling Suspend, GetIntent applying an option), the
// error names that one, then op: "openintent: RequestInput: Suspend: Question is required".
func invalidArg(op, field, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	detail := msg
	if outer := sdkOp(); outer != "" && outer != op {
		op, detail = outer, op+": "+msg
	}
	return &ValidationError{&APIError{Op: op, Code: "validation_error", Detail: detail,
		FieldErrors: []FieldError{{Field: field, Message: msg}}}}
}

// AuthenticationError is a 401: the API key is missing or unknown.
type AuthenticationError struct{ *APIError }

// PermissionError is a 403: the caller may not do this (ACL, governance, grant).
type PermissionError struct{ *APIError }

// RateLimitError is a 429; RetryAfter says when to try again.
type RateLimitError struct{ *APIError }

// ServerError is a 5xx.
type ServerError struct{ *APIError }

// Unwrap returns the APIError.
func (e *NotFoundError) Unwrap() error { return e.APIError }

// Unwrap returns the APIError.
func (e *VersionConflictError) Unwrap() error { return e.APIError }

// Unwrap returns the APIError.
func (e *LeaseConflictError) Unwrap() error { return e.APIError }

// Unwrap returns the APIError.
func (e *ConflictError) Unwrap() error { return e.APIError }

// Unwrap returns the APIError.
func (e *ValidationError) Unwrap() error { return e.APIError }

// Unwrap returns the APIError.
func (e *AuthenticationError) Unwrap() error { return e.APIError }

// Unwrap returns the APIError.
func (e *PermissionError) Unwrap() error { return e.APIError }

// Unwrap returns the APIError.
func (e *RateLimitError) Unwrap() error { return e.APIError }

// Unwrap returns the APIError.
func (e *ServerError) Unwrap() error { return e.APIError }

// typed wraps the error in the type of its category.
func (e *APIError) typed() error {
	switch {
	case e.StatusCode == http.StatusNotFound:
		return &NotFoundError{e}
	case e.StatusCode == http.StatusConflict:
		switch e.conflictKind() {
		case ErrVersionConflict:
			return &VersionConflictError{e}
		case ErrLeaseConflict:
			return &LeaseConflictError{e}
		}
		return &ConflictError{e}
	case e.StatusCode == http.StatusBadRequest || e.StatusCode == http.StatusUnprocessableEntity:
		return &ValidationError{e}
	case e.StatusCode == http.StatusUnauthorized:
		return &AuthenticationError{e}
	case e.StatusCode == http.StatusForbidden:
		return &PermissionError{e}
	case e.StatusCode == http.StatusTooManyRequests:
		return &RateLimitError{e}
	case e.StatusCode >= 500:
		return &ServerError{e}
	}
	return e
}

const maxErrorBody = 64 << 10

// newAPIError reads an error answer liberally: our server's body ({detail, code, errors,
// current_version, existing_lease}), the reference server's (detail as a string, an object with
// error/message, or FastAPI's validation list), or plain text.
func newAPIError(method, path string, resp *http.Response, body []byte) *APIError {
	e := &APIError{StatusCode: resp.StatusCode, Method: method, Path: path,
		RequestID: resp.Header.Get("X-Request-ID"), RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"))}
	if len(body) > maxErrorBody {
		body = body[:maxErrorBody]
	}
	e.Body = body
	var wire struct {
		Detail         json.RawMessage `json:"detail"`
		Message        string          `json:"message"`
		Code           string          `json:"code"`
		CurrentVersion int64           `json:"current_version"`
		ExistingLease  *Lease          `json:"existing_lease"`
		Errors         []FieldError    `json:"errors"`
	}
	if json.Unmarshal(body, &wire) != nil {
		text := strings.TrimSpace(string(body))
		if len(text) > 200 {
			text = text[:200] + "..."
		}
		if text == "" {
			text = http.StatusText(resp.StatusCode)
		}
		e.Detail = text
		return e
	}
	e.Code, e.CurrentVersion, e.ExistingLease, e.FieldErrors = wire.Code, wire.CurrentVersion, wire.ExistingLease, wire.Errors
	if e.ExistingLease != nil && e.ExistingLease.ID == "" {
		e.ExistingLease = nil
	}
	e.Detail = wire.Message
	var s string
	var obj map[string]any
	var list []struct {
		Loc []any  `json:"loc"`
		Msg string `json:"msg"`
	}
	switch {
	case json.Unmarshal(wire.Detail, &s) == nil:
		e.Detail = s
	case json.Unmarshal(wire.Detail, &obj) == nil && obj != nil:
		if m, ok := obj["message"].(string); ok {
			e.Detail = m
		} else {
			e.Detail = string(wire.Detail)
		}
		if c, ok := obj["error"].(string); ok && e.Code == "" {
			e.Code = c
		}
	case json.Unmarshal(wire.Detail, &list) == nil && len(list) > 0:
		e.Detail = "Validation error"
		for _, item := range list {
			e.FieldErrors = append(e.FieldErrors, FieldError{Field: fastAPILoc(item.Loc), Message: item.Msg})
		}
	}
	if e.Detail == "" {
		e.Detail = http.StatusText(resp.StatusCode)
	}
	return e
}

// fastAPILoc turns ["body","patches",0,"path"] into "patches.0.path".
func fastAPILoc(loc []any) string {
	parts := make([]string, 0, len(loc))
	for i, p := range loc {
		s := fmt.Sprint(p)
		if i == 0 && (s == "body" || s == "query" || s == "path" || s == "header") && len(loc) > 1 {
			continue
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ".")
}

// parseRetryAfter reads delay-seconds or an HTTP date (never negative).
func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && secs >= 0 {
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = time.Until(t)
	}
	return max(d, 0)
}
