package server

import "github.com/openintent-go/openintent/gen/models"

// orEmpty returns o, or an empty object when o is nil.
func orEmpty(o models.Object) models.Object {
	if o == nil {
		return models.Object{}
	}
	return o
}

// nonNil returns s, or an empty slice when s is nil (JSON [] rather than null).
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// page returns the window of items at offset, at most limit long (def when limit is zero).
func page[T any](items []T, limit, offset, def int) []T {
	if limit <= 0 {
		limit = def
	}
	if offset >= len(items) {
		return []T{}
	}
	return items[offset:min(len(items), offset+limit)]
}
