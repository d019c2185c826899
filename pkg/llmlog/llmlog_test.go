package llmlog_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openintent-go/openintent/pkg/llmlog"
	"github.com/openintent-go/openintent/pkg/openintent"
	"github.com/openintent-go/openintent/pkg/openintent/openintenttest"
)

// fake is a provider whose requests are {"model": ...} and answers {"text": ..., "in": n, "out": n}.
type fake struct{}

func (fake) Name() string { return "fake" }
func (fake) ParseRequest(r *http.Request, body []byte) (llmlog.Request, bool) {
	var q struct{ Model string }
	return llmlog.Request{Model: q.Model, Messages: 1, Stream: strings.Contains(string(body), "stream")}, json.Unmarshal(body, &q) == nil
}
func (fake) ParseResponse(body []byte) (llmlog.Response, error) {
	var a struct {
		Text    string
		In, Out int64
	}
	err := json.Unmarshal(body, &a)
	return llmlog.Response{Content: a.Text, PromptTokens: a.In, CompletionTokens: a.Out}, err
}
func (fake) ParseError(status int, body []byte) string { return string(body) }
func (fake) NewStream() llmlog.Stream                  { return &fakeStream{} }

type fakeStream struct {
	text strings.Builder
	done bool
}

func (s *fakeStream) Event(name string, data []byte) error {
	if string(data) == "end" {
		s.done = true
	} else {
		s.text.Write(data)
	}
	return nil
}
func (s *fakeStream) Result() llmlog.Response { return llmlog.Response{Content: s.text.String()} }
func (s *fakeStream) Done() bool              { return s.done }

func TestMiddleware(t *testing.T) {
	oi := openintenttest.NewServer(t).Client(t, "a")
	in, err := oi.CreateIntent(context.Background(), openintent.IntentCreate{Title: "t"})
	if err != nil {
		t.Fatal(err)
	}
	llm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if strings.Contains(string(body), "stream") {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: par\n\ndata: tial\n\n")
			if !strings.Contains(string(body), "cut") {
				io.WriteString(w, "data: end\n\n")
			}
			return
		}
		io.WriteString(w, `{"text": "hello", "in": 1000000, "out": 1000000}`)
	}))
	defer llm.Close()
	var errs []error
	mw := llmlog.Middleware(llmlog.Config{Client: oi, Provider: fake{}, OnError: func(err error) { errs = append(errs, err) },
		Price: llmlog.PerMillionTokens(map[string]llmlog.Price{"m": {Input: 1, Output: 2}, "m-large": {Input: 10, Output: 20}})})
	do := func(body string) string {
		req, _ := http.NewRequestWithContext(openintent.ContextWithIntent(context.Background(), in.ID), http.MethodPost, llm.URL, strings.NewReader(body))
		resp, err := mw(req, http.DefaultClient.Do)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return string(b)
	}
	if got := do(`{"model": "m-large-1"}`); !strings.Contains(got, "hello") {
		t.Fatalf("the caller read %q", got)
	}
	do(`{"model": "m", "x": "stream"}`)
	do(`{"model": "m", "x": "stream cut"}`)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	evs, _ := oi.GetEvents(context.Background(), in.ID, openintent.GetEventsParams{})
	count := map[string]int{}
	for _, ev := range evs {
		count[string(ev.EventType)]++
		if ev.EventType == "llm_request_failed" && ev.Payload["error"] != "the stream ended before the provider said it was complete" {
			t.Errorf("failed: %v", ev.Payload)
		}
	}
	if count["llm_request_started"] != 3 || count["llm_request_completed"] != 2 || count["llm_request_failed"] != 1 ||
		count["stream_started"] != 2 || count["stream_completed"] != 1 || count["stream_cancelled"] != 1 {
		t.Errorf("events: %v", count)
	}
	// The longest matching price: m-large, $10 + $20.
	costs, _ := oi.ListCosts(context.Background(), in.ID)
	if len(costs) != 1 || costs[0].Amount != 30 {
		t.Errorf("costs: %+v", costs)
	}
}
