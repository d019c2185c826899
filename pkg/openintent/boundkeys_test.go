package openintent_test

import (
	"context"
	"errors"
	"testing"

	"github.com/openintent-go/openintent/pkg/openintent"
	"github.com/openintent-go/openintent/pkg/openintent/openintenttest"
)

// TestBoundKeyActsOnlyAsItsAgents: with keys bound to agents (issue #14), a client acts as its
// key's agent by default and gets a *PermissionError (code agent_not_allowed) when it names
// another.
func TestBoundKeyActsOnlyAsItsAgents(t *testing.T) {
	ctx := context.Background()
	srv := openintenttest.NewServer(t, openintenttest.WithAPIKeys("alice-key=alice", "bob-key=bob"))
	if srv.APIKey != "alice-key" {
		t.Fatalf("Server.APIKey = %q, want the key without its binding", srv.APIKey)
	}
	bob, err := openintent.NewClient(srv.URL, openintent.WithAPIKey("bob-key"))
	if err != nil {
		t.Fatal(err)
	}
	in, err := bob.CreateIntent(ctx, openintent.IntentCreate{Title: "bob's"})
	if err != nil || in.CreatedBy != "bob" {
		t.Fatalf("bob's key without an agent id: %v %v", in, err)
	}
	impostor, err := openintent.NewClient(srv.URL, openintent.WithAPIKey("bob-key"), openintent.WithAgentID("alice"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = impostor.CreateIntent(ctx, openintent.IntentCreate{Title: "as alice"})
	var perm *openintent.PermissionError
	if !errors.As(err, &perm) || perm.Code != "agent_not_allowed" {
		t.Fatalf("bob's key as alice: %v", err)
	}
}
