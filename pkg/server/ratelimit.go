package server

import (
	"math"
	"strconv"
	"sync"
	"time"
)

// RateLimit limits requests per API key with a token bucket: Burst requests at once, refilled
// at PerSecond. A request over the limit answers 429 with Retry-After. The zero value is off.
type RateLimit struct {
	// PerSecond is the sustained rate per key; 0 disables limiting.
	PerSecond float64
	// Burst is the bucket size; 0 means max(1, PerSecond).
	Burst int
}

// limiter holds one bucket per key digest.
type limiter struct {
	cfg     RateLimit
	now     func() time.Time
	mu      sync.Mutex
	buckets map[keyDigest]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(cfg RateLimit, now func() time.Time) *limiter {
	if cfg.PerSecond <= 0 {
		return nil
	}
	if cfg.Burst <= 0 {
		cfg.Burst = int(math.Max(1, math.Ceil(cfg.PerSecond)))
	}
	return &limiter{cfg: cfg, now: now, buckets: map[keyDigest]*bucket{}}
}

// allow takes a token for key, or says how long until one is available.
func (l *limiter) allow(key keyDigest) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: float64(l.cfg.Burst), last: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(float64(l.cfg.Burst), b.tokens+now.Sub(b.last).Seconds()*l.cfg.PerSecond)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.cfg.PerSecond * float64(time.Second))
}

// retryAfterSeconds renders a wait as whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) string {
	return strconv.Itoa(int(math.Max(1, math.Ceil(d.Seconds()))))
}
