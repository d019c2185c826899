package server_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openintent-go/openintent/pkg/server"
	"github.com/openintent-go/openintent/pkg/store"
)

// FuzzJSONHandlers sends arbitrary bodies to the JSON handlers (create intent, state patch,
// events, leases): whatever the input, the server answers without a 5xx and without panicking.
func FuzzJSONHandlers(f *testing.F) {
	for _, seed := range []string{
		`{"title":"x"}`, `{"title":"x","state":{"a":[1,{"b":null}]},"depends_on":["a"]}`,
		`{"patches":[{"op":"set","path":"/a/b","value":1}]}`, `{"patches":[{"op":"append","path":"//","value":[]}]}`,
		`{"patches":[{"op":"remove","path":"~1~0"}]}`, `{"state":{"k":"v"}}`,
		`{"event_type":"comment","actor":"a","payload":{"x":1}}`, `{"scope":"s","duration_seconds":1}`,
		`{"scope":"s","duration_seconds":99999999999999999999}`, `[`, `{"title":"\u0000"}`, "\xff\xfe",
		strings.Repeat("[", 100),
	} {
		for route := range uint8(4) {
			f.Add(route, []byte(seed))
		}
	}
	st, err := store.Open(context.Background(), store.Memory, store.Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	srv, err := server.New(server.Config{Store: st, APIKeys: []string{testKey}})
	if err != nil {
		f.Fatal(err)
	}
	req := func(method, path string, body []byte) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, bytes.NewReader(body))
		r.Header.Set("X-API-Key", testKey)
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("If-Match", "1")
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		return w
	}
	w := req("POST", "/api/v1/intents", []byte(`{"title":"fuzz target"}`))
	if w.Code != http.StatusOK {
		f.Fatalf("create: %d %s", w.Code, w.Body)
	}
	id := w.Body.String()[strings.Index(w.Body.String(), `"id":"`)+6:]
	id = id[:strings.IndexByte(id, '"')]
	paths := []string{"/api/v1/intents", "/api/v1/intents/" + id + "/state", "/api/v1/intents/" + id + "/events", "/api/v1/intents/" + id + "/leases"}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		path := paths[int(route)%len(paths)]
		w := req("POST", path, body)
		if w.Code >= 500 {
			t.Fatalf("POST %s %q: %d %s", path, body, w.Code, w.Body)
		}
	})
}
