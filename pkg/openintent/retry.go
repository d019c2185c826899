package openintent

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// ConflictBackoff paces RetryOnConflict. Zero fields take the defaults of DefaultConflictBackoff.
type ConflictBackoff struct {
	// Steps is the number of attempts in total.
	Steps int
	// Initial is the wait before the second attempt; it doubles with each attempt.
	Initial time.Duration
	// Max caps the wait.
	Max time.Duration
}

// DefaultConflictBackoff is 10 attempts waiting 10ms, 20ms, ... up to 1s, each with jitter.
var DefaultConflictBackoff = ConflictBackoff{Steps: 10, Initial: 10 * time.Millisecond, Max: time.Second}

func (b ConflictBackoff) withDefaults() ConflictBackoff {
	if b.Steps <= 0 {
		b.Steps = DefaultConflictBackoff.Steps
	}
	if b.Initial <= 0 {
		b.Initial = DefaultConflictBackoff.Initial
	}
	if b.Max < b.Initial {
		b.Max = max(DefaultConflictBackoff.Max, b.Initial)
	}
	return b
}

// RetryOnConflict runs fn until it returns an error that is not a version conflict (or nil), at
// most backoff.Steps times, waiting with jittered exponential backoff between attempts. fn must
// re-read what it modifies on every attempt. When the attempts run out it returns the last
// conflict.
func RetryOnConflict(ctx context.Context, backoff ConflictBackoff, fn func(ctx context.Context) error) error {
	b := backoff.withDefaults()
	wait := b.Initial
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil || !errors.Is(err, ErrVersionConflict) || attempt >= b.Steps {
			return err
		}
		d := wait/2 + rand.N(wait/2+1)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(ctx.Err(), err)
		case <-t.C:
		}
		wait = min(wait*2, b.Max)
	}
}

// ModifyState is a read-modify-write of the intent's state that survives concurrent writers: it
// reads the intent, asks mutate for the patches to apply to that version, and sends them with
// If-Match, starting over on a version conflict (paced by backoff; the zero value means
// DefaultConflictBackoff). When mutate returns no patches nothing is written and the intent as
// read is returned.
func (c *Client) ModifyState(ctx context.Context, intentID string, backoff ConflictBackoff, mutate func(current *Intent) ([]StatePatch, error), opts ...Option) (*Intent, error) {
	if mutate == nil {
		return nil, invalidArg("ModifyState", "mutate", "mutate is nil")
	}
	var result *Intent
	err := RetryOnConflict(ctx, backoff, func(ctx context.Context) error {
		cur, err := c.GetIntent(ctx, intentID, opts...)
		if err != nil {
			return err
		}
		patches, err := mutate(cur)
		if err != nil {
			return fmt.Errorf("openintent: ModifyState: mutate: %w", err)
		}
		if len(patches) == 0 {
			result = cur
			return nil
		}
		result, err = c.PatchState(ctx, intentID, cur.Version, patches, opts...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return result, nil
}
