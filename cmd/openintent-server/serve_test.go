package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// startRun runs the server binary's run with args (plus an address and an in-memory store)
// until the test ends, and returns its base URL.
func startRun(t *testing.T, args ...string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"-addr", addr, "-db", ":memory:", "-api-keys", "serve-test-key"}, args...))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	url := "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); ; {
		res, err := http.Get(url + "/.well-known/openintent.json")
		if err == nil {
			res.Body.Close()
			return url
		}
		select {
		case err := <-done:
			t.Fatalf("run: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not start: %v", err)
		}
	}
}

// request sends a JSON request as agent-a and returns its status.
func request(t *testing.T, method, url, body string) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("X-API-Key", "serve-test-key")
	req.Header.Set("X-Agent-ID", "agent-a")
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// Finding: the binary's http.Server had only ReadHeaderTimeout, so a stalled body held its
// connection forever. With -body-read-timeout it is answered 408, while an event stream on the
// same server outlives that timeout.
func TestBinaryBoundsBodiesButNotStreams(t *testing.T) {
	const limit = 200 * time.Millisecond
	url := startRun(t, "-body-read-timeout", limit.String(), "-idle-timeout", "5s")

	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second)) // a guard against a hang only
	fmt.Fprintf(conn, "POST /api/v1/intents HTTP/1.1\r\nHost: t\r\nX-API-Key: serve-test-key\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"ti")
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || res.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("stalled body: %v %v, want 408", res, err)
	}

	req, _ := http.NewRequest("POST", url+"/api/v1/intents", strings.NewReader(`{"title":"streamed"}`))
	req.Header.Set("X-API-Key", "serve-test-key")
	req.Header.Set("X-Agent-ID", "agent-a")
	req.Header.Set("Content-Type", "application/json")
	created, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var id string
	if b, _ := io.ReadAll(created.Body); created.StatusCode == http.StatusOK {
		_, rest, _ := strings.Cut(string(b), `"id":"`)
		id, _, _ = strings.Cut(rest, `"`)
	}
	created.Body.Close()
	if id == "" {
		t.Fatalf("create: %d", created.StatusCode)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sreq, _ := http.NewRequestWithContext(ctx, "GET", url+"/api/v1/subscribe/intents/"+id, nil)
	sreq.Header.Set("X-API-Key", "serve-test-key")
	sreq.Header.Set("X-Agent-ID", "agent-a")
	sreq.Header.Set("Accept", "text/event-stream")
	stream, err := http.DefaultClient.Do(sreq)
	if err != nil || stream.StatusCode != http.StatusOK {
		t.Fatalf("stream: %v %v", stream, err)
	}
	defer stream.Body.Close()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stream.Body)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	<-lines               // the stream is open
	time.Sleep(3 * limit) // let the body timeout elapse (a lower bound only)
	if status := request(t, "POST", url+"/api/v1/intents/"+id+"/events", `{"event_type":"comment","actor":"agent-a","payload":{}}`); status != http.StatusOK {
		t.Fatalf("log event: %d", status)
	}
	guard := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatal("the stream ended after the body read timeout")
			}
			if line == "event: comment" {
				return
			}
		case <-guard:
			t.Fatal("no event on the stream")
		}
	}
}

// -allow-private-webhooks (off by default) decides whether a webhook may name a loopback
// address: refused with 422 without it, accepted and delivered with it.
func TestBinaryAllowPrivateWebhooksFlag(t *testing.T) {
	got := make(chan struct{}, 10)
	receiver := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { got <- struct{}{} }))
	defer receiver.Close()
	for _, allow := range []bool{false, true} {
		var args []string
		if allow {
			args = []string{"-allow-private-webhooks"}
		}
		url := startRun(t, args...)
		want := http.StatusUnprocessableEntity
		if allow {
			want = http.StatusOK
		}
		if status := request(t, "POST", url+"/api/v1/subscriptions", `{"webhook_url":"`+receiver.URL+`/hook"}`); status != want {
			t.Fatalf("-allow-private-webhooks=%v: subscribing a loopback webhook answered %d, want %d", allow, status, want)
		}
		if allow {
			request(t, "POST", url+"/api/v1/intents", `{"title":"delivered"}`)
			select {
			case <-got:
			case <-time.After(30 * time.Second):
				t.Fatal("the webhook on loopback was not delivered")
			}
		}
	}
}

// The timeouts' environment variables must parse: a bad value stops the server with the
// variable's name.
func TestBinaryRejectsBadTimeoutEnvironment(t *testing.T) {
	for _, k := range []string{"OPENINTENT_BODY_READ_TIMEOUT", "OPENINTENT_IDLE_TIMEOUT", "OPENINTENT_ALLOW_PRIVATE_WEBHOOKS"} {
		t.Run(k, func(t *testing.T) {
			t.Setenv(k, "soon")
			err := run(context.Background(), []string{"-db", ":memory:", "-addr", "127.0.0.1:0"})
			if err == nil || !strings.Contains(err.Error(), k) {
				t.Fatalf("%s=soon: %v", k, err)
			}
		})
	}
	if h := newHTTPServer(http.NotFoundHandler(), time.Minute); h.ReadTimeout != 0 || h.IdleTimeout != time.Minute || h.ReadHeaderTimeout == 0 {
		t.Fatalf("http.Server timeouts: read %s, idle %s, header %s", h.ReadTimeout, h.IdleTimeout, h.ReadHeaderTimeout)
	}
}
