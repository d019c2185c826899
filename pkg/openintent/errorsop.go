package openintent

import (
	"errors"
	"reflect"
	"runtime"
	"strings"
	"unicode"
)

// requestError is the error of a request that got no answer to decode: a transport error, the
// context ending, a body that could not be encoded or an answer that could not be decoded. Like
// an *APIError it names the SDK method, the HTTP method and the path; Unwrap gives the cause, so
// errors.Is(err, context.DeadlineExceeded) works.
type requestError struct {
	op, method, path string
	err              error
}

func (e *requestError) Error() string {
	var b strings.Builder
	b.WriteString("openintent: ")
	if e.op != "" {
		b.WriteString(e.op)
		b.WriteString(": ")
	}
	b.WriteString(e.method)
	b.WriteByte(' ')
	b.WriteString(e.path)
	b.WriteString(": ")
	b.WriteString(strings.TrimPrefix(e.err.Error(), "openintent: "))
	return b.String()
}

func (e *requestError) Unwrap() error { return e.err }

// nameOp sets the SDK method of an error of a request (an *APIError or a *requestError) that
// does not name one yet, from the call stack (sdkOp).
func nameOp(err error) {
	var apiErr *APIError
	var reqErr *requestError
	switch {
	case errors.As(err, &apiErr):
		if apiErr.Op == "" {
			apiErr.Op = sdkOp()
		}
	case errors.As(err, &reqErr):
		if reqErr.op == "" {
			reqErr.op = sdkOp()
		}
	}
}

// pkgPath is this package's import path, as runtime names its functions.
var pkgPath = reflect.TypeFor[Client]().PkgPath()

// sdkOp returns the outermost exported function or method of this package on the current
// goroutine's stack below the caller's own code: the SDK method the caller called, such as
// "GetIntent", "GetMemoryValue" (which sent a request through ListMemory) or
// "LLMRequest.Complete". It is read only when an error is returned, so calls pay nothing for it.
func sdkOp() string {
	var pcs [64]uintptr
	n := runtime.Callers(2, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	op := ""
	for {
		f, more := frames.Next()
		rest, ok := strings.CutPrefix(f.Function, pkgPath+".")
		if !ok || strings.HasSuffix(f.File, "_test.go") {
			if op != "" {
				return op // left the package: the caller's code
			}
		} else if name := exportedOp(rest); name != "" {
			op = name
		}
		if !more {
			return op
		}
	}
}

// exportedOp turns a function name relative to the package ("(*Client).GetIntent",
// "GetMemoryValue[...]", "(*LLMRequest).Complete") into an SDK method name ("GetIntent",
// "GetMemoryValue", "LLMRequest.Complete"), or "" for an unexported function. A closure counts
// as the function it is in ("(*Client).Intents.func1" is Intents: the iterator it returns).
func exportedOp(name string) string {
	name = strings.ReplaceAll(name, "[...]", "")
	for {
		i := strings.LastIndexByte(name, '.')
		if i < 0 || !closureName(name[i+1:]) {
			break
		}
		name = name[:i]
	}
	recv := ""
	if strings.HasPrefix(name, "(") {
		r, method, ok := strings.Cut(name, ").")
		if !ok {
			return ""
		}
		recv, name = strings.TrimPrefix(strings.TrimPrefix(r, "("), "*"), method
	} else if r, method, ok := strings.Cut(name, "."); ok { // a method with a value receiver
		recv, name = r, method
	}
	if strings.Contains(name, ".") || !exported(name) || (recv != "" && !exported(recv)) {
		return "" // unexported
	}
	if recv == "" || recv == "Client" {
		return name
	}
	return recv + "." + name
}

// closureName reports whether a segment of a function's name is the compiler's name of a
// closure or go statement inside it (func1, gowrap2, 3).
func closureName(seg string) bool {
	seg = strings.TrimLeft(seg, "0123456789")
	if seg == "" {
		return true
	}
	for _, p := range []string{"func", "gowrap", "deferwrap"} {
		if rest, ok := strings.CutPrefix(seg, p); ok && rest != "" && strings.Trim(rest, "0123456789") == "" {
			return true
		}
	}
	return false
}

func exported(name string) bool {
	for _, r := range name {
		return unicode.IsUpper(r)
	}
	return false
}

// namedYield makes every error a stream yields name the stream's SDK method, its HTTP method
// and path, as the errors of every other method do. The error keeps its identity for errors.Is
// and errors.As (ctx's error, ErrChannelClosed, an *APIError).
func namedYield[T any](op, path string, yield func(T, error) bool) func(T, error) bool {
	return func(v T, err error) bool {
		if err != nil {
			var apiErr *APIError
			var reqErr *requestError
			switch {
			case errors.As(err, &apiErr):
				if apiErr.Op == "" {
					apiErr.Op = op
				}
			case errors.As(err, &reqErr):
				if reqErr.op == "" {
					reqErr.op = op
				}
			default:
				err = &requestError{op: op, method: "GET", path: path, err: err}
			}
		}
		return yield(v, err)
	}
}
