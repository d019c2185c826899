package openintent

import (
	"context"

	"github.com/openintent-go/openintent/gen/client"
)

// Discover returns the server's discovery document (the Python SDK's discover). It needs no API key.
func (c *Client) Discover(ctx context.Context, opts ...Option) (*DiscoveryDocument, error) {
	var out DiscoveryDocument
	if err := c.do(ctx, request{build: op0(client.NewGetDiscoveryDocumentRequest), out: &out}, opts); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetCompatibility returns the server's compatibility document (implementation, RFC compliance,
// features).
func (c *Client) GetCompatibility(ctx context.Context, opts ...Option) (*CompatibilityDocument, error) {
	var out CompatibilityDocument
	if err := c.do(ctx, request{build: op0(client.NewGetCompatibilityDocumentRequest), out: &out}, opts); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetServerConfig returns the server's public configuration.
func (c *Client) GetServerConfig(ctx context.Context, opts ...Option) (*ServerConfig, error) {
	var out ServerConfig
	if err := c.do(ctx, request{build: op0(client.NewGetServerConfigRequest), out: &out}, opts); err != nil {
		return nil, err
	}
	return &out, nil
}
