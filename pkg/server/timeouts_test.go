package server_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openintent-go/openintent/pkg/server"
)

// dialServer opens a raw TCP connection to the server, with a generous deadline that only
// guards against a hang.
func dialServer(t *testing.T, s *obServer) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	return conn
}

// rawRequest is the text of a request as agent-a with the given body (which may be shorter than
// contentLength).
func rawRequest(method, path string, contentLength int, body string) string {
	return fmt.Sprintf("%s %s HTTP/1.1\r\nHost: test\r\nX-API-Key: %s\r\nX-Agent-ID: agent-a\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		method, path, testKey, contentLength, body)
}

// Finding: the server bounded only the request headers (ReadHeaderTimeout), so a client that
// sent headers and then stalled its body held a connection and a handler forever. The body now
// has Config.BodyReadTimeout: the server answers 408 request_timeout and closes the connection.
func TestStalledRequestBodyAnswered408AndConnectionClosed(t *testing.T) {
	const limit = 200 * time.Millisecond
	s := startObServer(t, nil, func(c *server.Config) { c.BodyReadTimeout = limit })
	conn := dialServer(t, s)
	start := time.Now()
	if _, err := io.WriteString(conn, rawRequest("POST", "/api/v1/intents", 100, `{"title": "sta`)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	waited := time.Since(start)
	var body struct {
		Code, Detail string
	}
	json.NewDecoder(res.Body).Decode(&body)
	res.Body.Close()
	if res.StatusCode != http.StatusRequestTimeout || body.Code != "request_timeout" {
		t.Fatalf("stalled body: %d %+v, want 408 request_timeout", res.StatusCode, body)
	}
	if waited < limit {
		t.Fatalf("answered after %s, before the body's %s were up", waited, limit)
	}
	if !res.Close {
		t.Error("the 408 does not say Connection: close")
	}
	// The server closes the connection: the rest of it reads as EOF, not as our guard deadline.
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Fatalf("after the 408: %q, %v; want the connection closed", rest, err)
	}
}

// The body read timeout never reaches an event stream: on a connection that first carried a
// request with a body, a stream (which has no body, so gets no read deadline: one passing under
// net/http's background read would cancel the stream's context) outlives Config.BodyReadTimeout
// and still receives an event logged after it elapsed.
func TestEventStreamOutlivesBodyReadTimeout(t *testing.T) {
	const limit = 200 * time.Millisecond
	s := startObServer(t, nil, func(c *server.Config) { c.BodyReadTimeout = limit })
	conn := dialServer(t, s)
	br := bufio.NewReader(conn)
	// On this connection: a request with a body, then the stream.
	create := `{"title": "streamed"}`
	io.WriteString(conn, rawRequest("POST", "/api/v1/intents", len(create), create))
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	var in struct{ ID string }
	json.NewDecoder(res.Body).Decode(&in)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || in.ID == "" {
		t.Fatalf("create: %d", res.StatusCode)
	}
	io.WriteString(conn, "GET /api/v1/subscribe/intents/"+in.ID+" HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\nX-API-Key: "+testKey+"\r\nX-Agent-ID: agent-a\r\n\r\n")
	res, err = http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("stream: %v %v", res, err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	if first := waitFor(t, lines, "the stream's opening"); !strings.HasPrefix(first, "retry:") {
		t.Fatalf("stream opened with %q", first)
	}
	time.Sleep(3 * limit) // let the body timeout elapse (a lower bound only: longer is fine)
	s.comment(in.ID, 7)
	for {
		line, ok := <-lines
		if !ok {
			t.Fatal("the stream ended after the body read timeout")
		}
		if line == "event: comment" {
			return
		}
	}
}

// A body read that fails on its deadline maps to 408 however it is reached (the error is
// matched, not its text).
func TestBodyTimeoutIsNotAServerError(t *testing.T) {
	s := startObServer(t, nil, func(c *server.Config) { c.BodyReadTimeout = 100 * time.Millisecond })
	for _, path := range []string{"/api/v1/intents", "/api/v1/subscriptions", "/api/v1/tools/invoke"} {
		conn := dialServer(t, s)
		io.WriteString(conn, rawRequest("POST", path, 50, `{`))
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusRequestTimeout {
			t.Errorf("%s with a stalled body: %d, want 408", path, res.StatusCode)
		}
	}
	if strings.Contains(s.logs.String(), "internal error") {
		t.Fatalf("a body timeout was logged as an internal error:\n%s", s.logs.String())
	}
}
