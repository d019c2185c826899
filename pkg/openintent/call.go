package openintent

import (
	"context"
)

// call sends the request b builds and decodes the answer into a new T.
func call[T any](ctx context.Context, c *Client, b builder, opts []Option) (*T, error) {
	var out T
	if err := c.do(ctx, request{build: b, out: &out}, opts); err != nil {
		return nil, err
	}
	return &out, nil
}

// callList sends the request b builds, whose answer is a JSON array, never returning a nil slice
// on success.
func callList[T any](ctx context.Context, c *Client, b builder, opts []Option) ([]T, error) {
	out := []T{}
	if err := c.do(ctx, request{build: b, out: &out}, opts); err != nil {
		return nil, err
	}
	return out, nil
}

// requireIDs checks that every named id (pairs of name, value) is set.
func requireIDs(method string, pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			return invalidArg(method, pairs[i], "%s is empty", pairs[i])
		}
	}
	return nil
}
