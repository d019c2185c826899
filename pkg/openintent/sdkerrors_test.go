package openintent_test

import (
	"context"
	"errors"
	"iter"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/openintent"
)

// notFoundServer answers every request 404 with a detail, counting them.
func notFoundServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"detail":"Nothing here","code":"not_found"}`))
	}))
	t.Cleanup(hs.Close)
	return hs, &n
}

// argFor returns an argument of type typ for the method walk: a usable value where the client
// checks it (ids, versions, identities, times), the zero value elsewhere.
func argFor(t *testing.T, typ reflect.Type, id *openintent.Ed25519Identity) reflect.Value {
	switch {
	case typ == reflect.TypeFor[context.Context]():
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		t.Cleanup(cancel)
		return reflect.ValueOf(ctx)
	case typ == reflect.TypeFor[*openintent.Ed25519Identity]():
		return reflect.ValueOf(id)
	case typ == reflect.TypeFor[time.Time]():
		return reflect.ValueOf(time.Now().Add(time.Hour))
	case typ == reflect.TypeFor[time.Duration]():
		return reflect.ValueOf(time.Minute)
	case typ.Kind() == reflect.String:
		return reflect.ValueOf("x1").Convert(typ)
	case typ.Kind() == reflect.Int || typ.Kind() == reflect.Int64:
		return reflect.ValueOf(1).Convert(typ)
	}
	return reflect.Zero(typ)
}

// callMethod calls m with args and returns the first error it returns or yields, or nil.
func callMethod(m reflect.Value, args []reflect.Value) error {
	var out []reflect.Value
	if m.Type().IsVariadic() {
		out = m.CallSlice(append(args, reflect.Zero(m.Type().In(m.Type().NumIn()-1))))
	} else {
		out = m.Call(args)
	}
	for _, v := range out {
		if err, ok := v.Interface().(error); ok && err != nil {
			return err
		}
		if seq, ok := v.Interface().(iter.Seq2[openintent.IntentEvent, error]); ok {
			for _, err := range seq {
				return err
			}
		}
		if seq, ok := v.Interface().(iter.Seq2[openintent.ChannelMessage, error]); ok {
			for _, err := range seq {
				return err
			}
		}
		if v.Kind() == reflect.Func && v.Type().NumOut() == 0 && v.Type().NumIn() == 1 && v.Type().In(0).Kind() == reflect.Func {
			// Any other iterator: take the first element's error.
			var got error
			yield := reflect.MakeFunc(v.Type().In(0), func(a []reflect.Value) []reflect.Value {
				if e, ok := a[len(a)-1].Interface().(error); ok {
					got = e
				}
				return []reflect.Value{reflect.ValueOf(false)}
			})
			v.Call([]reflect.Value{yield})
			if got != nil {
				return got
			}
		}
	}
	return nil
}

// TestEveryErrorNamesMethodAndPath calls every method of *Client against a server answering
// 404 to everything: each fails with an error naming the method, and, when the request was sent,
// its HTTP method and path; an argument the client refuses itself is a *ValidationError.
func TestEveryErrorNamesMethodAndPath(t *testing.T) {
	hs, _ := notFoundServer(t)
	c, err := openintent.NewClient(hs.URL, openintent.WithAPIKey("k"), openintent.WithAgentID("agent-a"), openintent.WithMaxRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	id, err := openintent.NewEd25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	// Methods that make no request and can return no error of a request.
	skip := map[string]string{
		"AgentID": "accessor", "BaseURL": "accessor", "Close": "no request",
		"KeepAgentAlive": "background loop", "KeepCoordinatorAlive": "background loop",
	}
	cv := reflect.ValueOf(c)
	ct := cv.Type()
	for i := range ct.NumMethod() {
		m := ct.Method(i)
		if _, ok := skip[m.Name]; ok {
			continue
		}
		t.Run(m.Name, func(t *testing.T) {
			mv := cv.Method(i)
			n := mv.Type().NumIn()
			if mv.Type().IsVariadic() {
				n--
			}
			args := make([]reflect.Value, n)
			for j := range n {
				args[j] = argFor(t, mv.Type().In(j), id)
			}
			err := callMethod(mv, args)
			checkNamed(t, m.Name, err)
		})
	}
	t.Run("GetMemoryValue", func(t *testing.T) {
		_, err := openintent.GetMemoryValue[map[string]any](context.Background(), c, "ns", "k")
		checkNamed(t, "GetMemoryValue", err)
		if !errors.Is(err, openintent.ErrNotFound) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("PutMemoryValue", func(t *testing.T) {
		_, err := openintent.PutMemoryValue(context.Background(), c, "ns", "k", 1)
		checkNamed(t, "PutMemoryValue", err)
	})
}

func checkNamed(t *testing.T, name string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error from a server answering 404", name)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "openintent: "+name+": ") && !strings.HasPrefix(msg, "openintent: "+name+" ") {
		t.Errorf("%s: error does not name the method: %s", name, msg)
	}
	if strings.Count(msg, "openintent:") > 1 {
		t.Errorf("%s: error repeats its prefix: %s", name, msg)
	}
	var apiErr *openintent.APIError
	if !errors.As(err, &apiErr) {
		t.Errorf("%s: neither the server's answer nor a refused argument: %s", name, msg)
		return
	}
	if apiErr.StatusCode == 0 {
		var ve *openintent.ValidationError
		if !errors.As(err, &ve) || !errors.Is(err, openintent.ErrValidation) || len(ve.FieldErrors) == 0 || ve.Op == "" {
			t.Errorf("%s: a refused argument is not a *ValidationError naming its field: %#v", name, apiErr)
		}
		return
	}
	if apiErr.Method == "" || !strings.HasPrefix(apiErr.Path, "/") || !strings.Contains(msg, apiErr.Method+" "+apiErr.Path+": ") {
		t.Errorf("%s: error does not name the request's method and path: %s", name, msg)
	}
	if strings.Count(msg, "Nothing here") != 1 {
		t.Errorf("%s: detail not said once: %s", name, msg)
	}
}

// TestValidationErrorSaysEachFieldOnce: a 422 of the server names each invalid field once in
// Error(), whether the server's detail already lists them (ours) or not (the reference's
// FastAPI list).
func TestValidationErrorSaysEachFieldOnce(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "agent-a")
	in := mustCreate(t, c, openintent.IntentCreate{Title: "Fields"})
	_, err := c.SetStatus(ctxT(t), in.ID, in.Version, "no_such_status")
	var ve *openintent.ValidationError
	if !errors.As(err, &ve) || len(ve.FieldErrors) == 0 {
		t.Fatalf("err = %v", err)
	}
	for _, f := range ve.FieldErrors {
		if n := strings.Count(err.Error(), f.Message); n != 1 {
			t.Errorf("field error %s: %s said %d times: %s", f.Field, f.Message, n, err)
		}
	}

	for _, body := range []string{
		`{"detail":"title: is required; state: must be an object","code":"validation_error","errors":[{"field":"title","message":"is required"},{"field":"state","message":"must be an object"}]}`,
		`{"detail":[{"loc":["body","title"],"msg":"field required","type":"value_error.missing"},{"loc":["body","state"],"msg":"value is not a valid dict","type":"type_error.dict"}]}`,
	} {
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnprocessableEntity)
			w.Write([]byte(body))
		}))
		c, err := openintent.NewClient(hs.URL)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.CreateIntent(ctxT(t), openintent.IntentCreate{Title: "x"})
		hs.Close()
		if !errors.As(err, &ve) || len(ve.FieldErrors) != 2 {
			t.Fatalf("err = %v", err)
		}
		msg := err.Error()
		for _, f := range ve.FieldErrors {
			if strings.Count(msg, f.Message) != 1 || !strings.Contains(msg, f.Field) {
				t.Errorf("field error %s: %s not said once: %s", f.Field, f.Message, msg)
			}
		}
		if !strings.HasPrefix(msg, "openintent: CreateIntent: POST /api/v1/intents: 422 unprocessable entity: ") {
			t.Errorf("message: %s", msg)
		}
	}
}

// TestClientSideChecksAreValidationErrors: what the client refuses before sending anything is a
// *ValidationError matching ErrValidation (status 0), naming the method and the field, and no
// request is sent.
func TestClientSideChecksAreValidationErrors(t *testing.T) {
	hs, requests := notFoundServer(t)
	c, err := openintent.NewClient(hs.URL, openintent.WithAgentID("agent-a"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	first := func(seq iter.Seq2[openintent.IntentEvent, error]) error {
		for _, err := range seq {
			return err
		}
		return nil
	}
	cases := []struct {
		name, op, field string
		err             error
	}{
		{"missing title", "CreateIntent", "title", second(c.CreateIntent(ctx, openintent.IntentCreate{}))},
		{"version below 1", "UpdateState", "version", second(c.UpdateState(ctx, "i1", 0, openintent.Object{}))},
		{"empty id", "GetIntent", "intentID", second(c.GetIntent(ctx, ""))},
		{"negative limit", "ListTasks", "limit", second(c.ListTasks(ctx, "i1", openintent.ListTasksParams{Limit: -1}))},
		{"negative duration", "AcquireLease", "duration", second(c.AcquireLease(ctx, "i1", "s", -time.Second))},
		{"nil callback", "WithLease", "fn", c.WithLease(ctx, "i1", "s", 0, nil)},
		{"empty stream id", "StreamIntentEvents", "intentID", first(c.StreamIntentEvents(ctx, ""))},
		{"bad option on a call", "GetIntent", "d", second(c.GetIntent(ctx, "i1", openintent.WithTimeout(-1)))},
		{"bad option", "NewClient", "key", second(openintent.NewClient(hs.URL, openintent.WithAPIKey("")))},
		{"bad base URL", "NewClient", "baseURL", second(openintent.NewClient("ftp://x"))},
		{"offline", "MerkleRoot", "eventHashes", second(openintent.MerkleRoot(nil))},
	}
	for _, tc := range cases {
		var ve *openintent.ValidationError
		switch {
		case !errors.As(tc.err, &ve) || !errors.Is(tc.err, openintent.ErrValidation):
			t.Errorf("%s: %v (%T) is no *ValidationError", tc.name, tc.err, tc.err)
		case ve.StatusCode != 0 || ve.Op != tc.op || len(ve.FieldErrors) != 1 || ve.FieldErrors[0].Field != tc.field:
			t.Errorf("%s: status %d, op %q, fields %v; want op %q, field %q", tc.name, ve.StatusCode, ve.Op, ve.FieldErrors, tc.op, tc.field)
		case !strings.HasPrefix(tc.err.Error(), "openintent: "+tc.op+": ") || strings.Contains(tc.err.Error(), " 0 "):
			t.Errorf("%s: message %q", tc.name, tc.err)
		}
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

// second returns the error of a two-result call.
func second[T any](_ T, err error) error { return err }
