package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/openintent-go/openintent/pkg/openintent"
)

// Resource URIs. Templates take the id in braces.
const (
	ResourceIntents         = "openintent://intents"
	ResourceIntent          = "openintent://intents/{intent_id}"
	ResourceIntentState     = "openintent://intents/{intent_id}/state"
	ResourceIntentEvents    = "openintent://intents/{intent_id}/events"
	ResourcePortfolios      = "openintent://portfolios"
	ResourcePortfolio       = "openintent://portfolios/{portfolio_id}"
	ResourceChannelMessages = "openintent://channels/{channel_id}/messages"
)

func (s *Server) addResources() {
	const js = "application/json"
	s.mcp.AddResource(&sdk.Resource{URI: ResourceIntents, Name: "intents", Title: "Intents", MIMEType: js,
		Description: "The first 50 intents the agent may read."}, s.readResource)
	s.mcp.AddResource(&sdk.Resource{URI: ResourcePortfolios, Name: "portfolios", Title: "Portfolios", MIMEType: js,
		Description: "Portfolios the agent created."}, s.readResource)
	for _, t := range []sdk.ResourceTemplate{
		{URITemplate: ResourceIntent, Name: "intent", Title: "Intent", Description: "An intent: status, version, state, dependencies."},
		{URITemplate: ResourceIntentState, Name: "intent-state", Title: "Intent state", Description: "An intent's state object."},
		{URITemplate: ResourceIntentEvents, Name: "intent-events", Title: "Intent events", Description: "An intent's last 100 events."},
		{URITemplate: ResourcePortfolio, Name: "portfolio", Title: "Portfolio", Description: "A portfolio with its intents and aggregate status."},
		{URITemplate: ResourceChannelMessages, Name: "channel-messages", Title: "Channel messages", Description: "A channel's last 100 messages (RFC-0021)."},
	} {
		t.MIMEType = js
		s.mcp.AddResourceTemplate(&t, s.readResource)
	}
}

// readResource reads any of the server's resources through the client (so with its key and
// agent, under the server's access rules).
func (s *Server) readResource(ctx context.Context, req *sdk.ReadResourceRequest) (*sdk.ReadResourceResult, error) {
	uri := req.Params.URI
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "openintent" {
		return nil, sdk.ResourceNotFoundError(uri)
	}
	parts := strings.Split(strings.Trim(u.Host+u.Path, "/"), "/")
	for i, p := range parts {
		if parts[i], err = url.PathUnescape(p); err != nil {
			return nil, sdk.ResourceNotFoundError(uri)
		}
	}
	c := s.client
	var v any
	switch {
	case len(parts) == 1 && parts[0] == "intents":
		v, err = c.ListIntents(ctx, openintent.ListIntentsParams{Limit: 50})
	case len(parts) == 2 && parts[0] == "intents":
		v, err = c.GetIntent(ctx, parts[1])
	case len(parts) == 3 && parts[0] == "intents" && parts[2] == "state":
		var in *openintent.Intent
		if in, err = c.GetIntent(ctx, parts[1]); err == nil {
			v = in.State
		}
	case len(parts) == 3 && parts[0] == "intents" && parts[2] == "events":
		v, err = c.GetEvents(ctx, parts[1], openintent.GetEventsParams{Limit: 100})
	case len(parts) == 1 && parts[0] == "portfolios":
		v, err = c.ListPortfolios(ctx, s.cfg.AgentID)
	case len(parts) == 2 && parts[0] == "portfolios":
		v, err = c.GetPortfolio(ctx, parts[1])
	case len(parts) == 3 && parts[0] == "channels" && parts[2] == "messages":
		v, err = c.ListMessages(ctx, parts[1], openintent.ListMessagesParams{Limit: 100})
	default:
		return nil, sdk.ResourceNotFoundError(uri)
	}
	if errors.Is(err, openintent.ErrNotFound) {
		return nil, sdk.ResourceNotFoundError(uri)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", uri, err)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return &sdk.ReadResourceResult{Contents: []*sdk.ResourceContents{{URI: uri, MIMEType: "application/json", Text: string(b)}}}, nil
}
