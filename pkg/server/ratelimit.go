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

// DefaultAuthFailureLimit is Config.AuthFailureLimit when it is zero: a client address may fail
// authentication 30 times at once, then once every two seconds.
var DefaultAuthFailureLimit = RateLimit{PerSecond: 0.5, Burst: 30}

// maxBuckets is how many buckets a limiter keeps before it forgets the full ones.
const maxBuckets = 10000

// limiter holds one bucket per key (an API key's digest, or a client address).
type limiter[K comparable] struct {
	cfg     RateLimit
	now     func() time.Time
	mu      sync.Mutex
	buckets map[K]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter[K comparable](cfg RateLimit, now func() time.Time) *limiter[K] {
	if cfg.PerSecond <= 0 {
		return nil
	}
	if cfg.Burst <= 0 {
		cfg.Burst = int(math.Max(1, math.Ceil(cfg.PerSecond)))
	}
	return &limiter[K]{cfg: cfg, now: now, buckets: map[K]*bucket{}}
}

// allow takes a token for key, or says how long until one is available.
func (l *limiter[K]) allow(key K) (bool, time.Duration) {
	return l.use(key, true)
}

// check says whether key has a token, without taking it.
func (l *limiter[K]) check(key K) (bool, time.Duration) {
	return l.use(key, false)
}

func (l *limiter[K]) use(key K, take bool) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			l.forgetFull(now)
		}
		b = &bucket{tokens: float64(l.cfg.Burst), last: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(float64(l.cfg.Burst), b.tokens+now.Sub(b.last).Seconds()*l.cfg.PerSecond)
	b.last = now
	if b.tokens >= 1 {
		if take {
			b.tokens--
		}
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.cfg.PerSecond * float64(time.Second))
}

// forgetFull drops the buckets that have refilled (a new bucket starts full anyway), so the
// limiter's memory stays bounded by the keys active within a refill time.
func (l *limiter[K]) forgetFull(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.cfg.PerSecond >= float64(l.cfg.Burst) {
			delete(l.buckets, k)
		}
	}
}

// retryAfterSeconds renders a wait as whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) string {
	return strconv.Itoa(int(math.Max(1, math.Ceil(d.Seconds()))))
}
