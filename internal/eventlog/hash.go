// Package eventlog is the verifiable event log of RFC-0019, shared by the server that builds it
// and the SDK that checks it offline, so that both derive the same bytes: event hashes over
// canonical JSON, the hash chain linking an intent's events, Merkle trees over batches of event
// hashes with inclusion proofs, and the checks of all three.
package eventlog

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/internal/canonical"
)

// Prefix starts every hash on the wire: it names the algorithm (RFC-0019 leaves room for others).
const Prefix = "sha256:"

// Hash is a SHA-256 digest: an event's hash, or a node of a Merkle tree.
type Hash [sha256.Size]byte

// String is the wire form: Prefix and the unpadded base64url of the digest.
func (h Hash) String() string { return string(h.Append(make([]byte, 0, 50))) }

// Append appends the wire form of h to b.
func (h Hash) Append(b []byte) []byte {
	b = append(b, Prefix...)
	return base64.RawURLEncoding.AppendEncode(b, h[:])
}

// Parse reads the wire form of a hash (base64url, padded or not, after Prefix).
func Parse(s string) (Hash, error) {
	var h Hash
	rest, ok := strings.CutPrefix(s, Prefix)
	if !ok {
		return h, fmt.Errorf("eventlog: hash %q does not start with %q", s, Prefix)
	}
	rest = strings.TrimRight(rest, "=")
	if len(rest) != base64.RawURLEncoding.EncodedLen(len(h)) {
		return h, fmt.Errorf("eventlog: hash %q is not %d bytes of base64url", s, len(h))
	}
	n, err := base64.RawURLEncoding.Decode(h[:], []byte(rest))
	if err != nil || n != len(h) {
		return Hash{}, fmt.Errorf("eventlog: hash %q is not %d bytes of base64url", s, len(h))
	}
	return h, nil
}

// node is the parent of two nodes of a Merkle tree: SHA-256 of their digests concatenated.
func node(left, right Hash) Hash {
	var b [2 * sha256.Size]byte
	copy(b[:sha256.Size], left[:])
	copy(b[sha256.Size:], right[:])
	return sha256.Sum256(b[:])
}

// Hasher computes event hashes, reusing one buffer (it is not safe for concurrent use). Along a
// run of one intent's events it remembers the strings it wrote as themselves (the intent, the
// last actor and type, the previous event's hash once checked), so that each is compared, not
// scanned again.
type Hasher struct {
	buf   []byte
	plain plainStrings
}

// plainStrings are strings known to need no escaping in canonical JSON.
type plainStrings struct {
	intent, actor, eventType, prevHash string
}

// Sum returns the hash of ev (see AppendCanonical for what it covers).
func (h *Hasher) Sum(ev *models.IntentEvent) (Hash, error) {
	b, err := appendCanonical(h.buf[:0], ev, &h.plain)
	h.buf = b
	if err != nil {
		return Hash{}, err
	}
	return sha256.Sum256(b), nil
}

// checked tells h that s is an event's hash as this Hasher computed it (so needs no escaping):
// the next event's previous_event_hash, when equal, is written without scanning it.
func (h *Hasher) checked(s string) { h.plain.prevHash = s }

// EventHash returns the hash of ev.
func EventHash(ev *models.IntentEvent) (Hash, error) {
	var h Hasher
	return h.Sum(ev)
}

// AppendCanonical appends the canonical JSON (RFC 8785) that an event's hash covers: the event
// as served, without event_hash. Its members are id, intent_id, event_type, actor, payload ({}
// when absent), created_at (RFC 3339 in UTC with Z, the fraction without trailing zeros, as the
// server writes it), sequence and previous_event_hash (null for the intent's first event), and
// trace_id, parent_event_id and proof when they are set. The members of an event are fixed, so
// they are written in their sorted order directly; only the payload is sorted as it goes.
func AppendCanonical(b []byte, ev *models.IntentEvent) ([]byte, error) {
	return appendCanonical(b, ev, nil)
}

// appendCanonical is AppendCanonical, writing the strings known (when not nil) holds without
// scanning them and remembering those it finds plain.
func appendCanonical(b []byte, ev *models.IntentEvent, known *plainStrings) ([]byte, error) {
	var err error
	var actor, eventType, intent, prev *string
	if known != nil {
		actor, eventType, intent, prev = &known.actor, &known.eventType, &known.intent, &known.prevHash
	}
	if b, err = member(b, `{"actor":`, ev.Actor, actor, nil); err != nil {
		return b, err
	}
	b = append(b, `,"created_at":`...)
	if ev.CreatedAt.IsZero() {
		b = append(b, "null"...)
	} else {
		b = append(b, '"')
		b = appendTime(b, ev.CreatedAt.UTC())
		b = append(b, '"')
	}
	b, err = member(b, `,"event_type":`, string(ev.EventType), eventType, err)
	b, err = member(b, `,"id":`, ev.ID, nil, err)
	b, err = member(b, `,"intent_id":`, ev.IntentID, intent, err)
	if ev.ParentEventID != "" {
		b, err = member(b, `,"parent_event_id":`, ev.ParentEventID, nil, err)
	}
	if err != nil {
		return b, fmt.Errorf("eventlog: event %s: %w", ev.ID, err)
	}
	b = append(b, `,"payload":`...)
	if ev.Payload == nil {
		b = append(b, "{}"...)
	} else if b, err = canonical.Append(b, map[string]any(ev.Payload)); err != nil {
		return b, fmt.Errorf("eventlog: event %s: payload: %w", ev.ID, err)
	}
	if ev.PreviousEventHash == nil {
		b = append(b, `,"previous_event_hash":null`...)
	} else {
		b, err = member(b, `,"previous_event_hash":`, *ev.PreviousEventHash, prev, err)
	}
	if p := ev.Proof; p != (models.EventProof{}) {
		b, err = member(b, `,"proof":{"created":`, p.Created, nil, err)
		b, err = member(b, `,"signature":`, p.Signature, nil, err)
		b, err = member(b, `,"type":`, p.Type, nil, err)
		b, err = member(b, `,"verification_method":`, p.VerificationMethod, nil, err)
		b = append(b, '}')
	}
	b = append(b, `,"sequence":`...)
	b = strconv.AppendInt(b, ev.Sequence, 10)
	if ev.TraceID != "" {
		b, err = member(b, `,"trace_id":`, ev.TraceID, nil, err)
	}
	if err != nil {
		return b, fmt.Errorf("eventlog: event %s: %w", ev.ID, err)
	}
	return append(b, '}'), nil
}

// member appends name (the text before a member's value) and v as a string, unless an earlier
// member failed. When v is *plain (a string known to need no escaping) it is copied as it is;
// otherwise, when it turns out to need none, *plain remembers it (plain may be nil).
func member(b []byte, name, v string, plain *string, err error) ([]byte, error) {
	if err != nil {
		return b, err
	}
	b = append(b, name...)
	if plain != nil && v == *plain {
		b = append(b, '"')
		b = append(b, v...)
		return append(b, '"'), nil
	}
	n := len(b)
	b, err = canonical.AppendString(b, v)
	if plain != nil && err == nil && len(b)-n == len(v)+2 {
		*plain = v
	}
	return b, err
}

// Reasons a chain check fails (ChainBreak.Reason).
const (
	// ReasonHash: the event's content does not give its event_hash.
	ReasonHash = "hash_mismatch"
	// ReasonLink: its previous_event_hash is not the preceding event's event_hash.
	ReasonLink = "link_mismatch"
	// ReasonCheckpoint: a checkpoint's events do not give its merkle_root.
	ReasonCheckpoint = "checkpoint_mismatch"
)

// ErrBroken is wrapped by the error of a failed check.
var ErrBroken = errors.New("eventlog: the log does not verify")

// ChainResult is what CheckChain found.
type ChainResult struct {
	// Breaks lists every failure in log order (checkpoints after events); empty when valid.
	Breaks []models.ChainBreak
	// Hashes are the events' hashes recomputed from their content (when checkpoints were given).
	Hashes []Hash
	// Checkpoints counts the checkpoints recomputed.
	Checkpoints int
}

// Links returns each event's place in the chain, verified unless a break names it.
func (r ChainResult) Links(events []models.IntentEvent) []models.ChainLink {
	bad := map[string]bool{}
	for _, b := range r.Breaks {
		if b.EventID != "" {
			bad[b.EventID] = true
		}
	}
	out := make([]models.ChainLink, len(events))
	for i, ev := range events {
		out[i] = models.ChainLink{Sequence: ev.Sequence, EventID: ev.ID, EventHash: ev.EventHash, PreviousEventHash: ev.PreviousEventHash, Verified: !bad[ev.ID]}
	}
	return out
}

// CheckChain checks a run of one intent's events, oldest first: each event's event_hash must be
// the hash of its content, and its previous_event_hash the event_hash of the event before it;
// the event before the first is start (the wire form of a hash remembered from earlier), or
// none when start is empty: the run then opens the log and its first previous_event_hash must
// be null. Each checkpoint whose whole range the run holds is recomputed from the recomputed
// hashes (checkpoints of other intents, or reaching outside the run, are skipped).
func CheckChain(events []models.IntentEvent, start string, checkpoints []models.LogCheckpoint) ChainResult {
	res := ChainResult{Breaks: []models.ChainBreak{}}
	sums, match, errs := hashEvents(events)
	if len(checkpoints) > 0 {
		res.Hashes = sums
	}
	var buf []byte
	for i := range events {
		ev := &events[i]
		switch {
		case match[i]:
		case errs[i] != nil:
			res.Breaks = append(res.Breaks, models.ChainBreak{Sequence: ev.Sequence, EventID: ev.ID, Reason: ReasonHash, Found: ev.EventHash,
				Detail: fmt.Sprintf("event %s cannot be hashed: %v", ev.ID, errs[i])})
		default:
			buf = sums[i].Append(buf[:0])
			res.Breaks = append(res.Breaks, models.ChainBreak{Sequence: ev.Sequence, EventID: ev.ID, Reason: ReasonHash, Expected: string(buf), Found: ev.EventHash,
				Detail: fmt.Sprintf("event %s (sequence %d): its content does not give its event_hash: it was changed after it was logged", ev.ID, ev.Sequence)})
		}
		want, wantNull := start, start == ""
		if i > 0 {
			want, wantNull = events[i-1].EventHash, false
		}
		got, gotNull := "", ev.PreviousEventHash == nil
		if !gotNull {
			got = *ev.PreviousEventHash
		}
		if gotNull != wantNull || got != want || (i > 0 && ev.IntentID != events[0].IntentID) {
			detail := fmt.Sprintf("event %s (sequence %d): previous_event_hash is not the event_hash of the event before it: an event before it was changed, removed or inserted", ev.ID, ev.Sequence)
			if i == 0 && wantNull {
				detail = fmt.Sprintf("event %s (sequence %d) opens the log but names a previous event: events before it are missing", ev.ID, ev.Sequence)
			}
			if i > 0 && ev.IntentID != events[0].IntentID {
				detail = fmt.Sprintf("event %s (sequence %d) belongs to intent %s, not %s", ev.ID, ev.Sequence, ev.IntentID, events[0].IntentID)
			}
			res.Breaks = append(res.Breaks, models.ChainBreak{Sequence: ev.Sequence, EventID: ev.ID, Reason: ReasonLink, Expected: orNull(want, wantNull), Found: orNull(got, gotNull), Detail: detail})
		}
	}
	for _, cp := range checkpoints {
		if b, ok := checkCheckpoint(events, res.Hashes, cp, false); ok {
			res.Checkpoints++
			if b != nil {
				res.Breaks = append(res.Breaks, *b)
			}
		}
	}
	return res
}

// parallelRun is the fewest events each goroutine of hashEvents takes: below twice as many, a
// run is hashed on the calling goroutine alone.
const parallelRun = 1024

// hashEvents computes each event's hash (sums), whether it is the event's event_hash (match),
// and why an event cannot be hashed (errs, keyed by index; nil when none can fail). An event's
// hash depends on its own content alone (its previous_event_hash is part of it, as stored), so
// long runs are split in contiguous parts hashed on up to GOMAXPROCS goroutines; the links
// between events are compared afterwards, in order, by the caller.
func hashEvents(events []models.IntentEvent) (sums []Hash, match []bool, errs map[int]error) {
	sums, match = make([]Hash, len(events)), make([]bool, len(events))
	parts := min(runtime.GOMAXPROCS(0), len(events)/parallelRun)
	if parts <= 1 {
		return sums, match, hashRange(events, sums, match, 0, nil)
	}
	partErrs := make([]map[int]error, parts)
	var wg sync.WaitGroup
	for p := 1; p < parts; p++ {
		lo, hi := p*len(events)/parts, (p+1)*len(events)/parts
		wg.Add(1)
		go func() {
			defer wg.Done()
			partErrs[p] = hashRange(events[lo:hi], sums[lo:hi], match[lo:hi], lo, nil)
		}()
	}
	hi := len(events) / parts
	errs = hashRange(events[:hi], sums[:hi], match[:hi], 0, nil)
	wg.Wait()
	for _, m := range partErrs[1:] {
		for i, err := range m {
			if errs == nil {
				errs = map[int]error{}
			}
			errs[i] = err
		}
	}
	return sums, match, errs
}

// hashRange hashes events into sums and match (as hashEvents), adding the failures to errs
// keyed by their index plus offset.
func hashRange(events []models.IntentEvent, sums []Hash, match []bool, offset int, errs map[int]error) map[int]error {
	var h Hasher
	var buf [64]byte
	for i := range events {
		ev := &events[i]
		sum, err := h.Sum(ev)
		sums[i] = sum
		if err != nil {
			if errs == nil {
				errs = map[int]error{}
			}
			errs[offset+i] = err
		} else if string(sum.Append(buf[:0])) == ev.EventHash {
			match[i] = true
			h.checked(ev.EventHash)
		}
	}
	return errs
}

func orNull(s string, null bool) string {
	if null {
		return "null"
	}
	return s
}

// checkCheckpoint recomputes a checkpoint's root from hashes (of events, sorted by sequence:
// one intent's for an intent checkpoint, the server's whole log for a server checkpoint); ok is
// false when the events are not of its log or do not hold its whole range.
func checkCheckpoint(events []models.IntentEvent, hashes []Hash, cp models.LogCheckpoint, server bool) (*models.ChainBreak, bool) {
	if len(events) == 0 || server != (cp.IntentID == nil) || (!server && *cp.IntentID != events[0].IntentID) ||
		cp.FirstSequence < events[0].Sequence || cp.LastSequence > events[len(events)-1].Sequence {
		return nil, false
	}
	lo, hi := len(events), len(events)
	for i, ev := range events {
		if ev.Sequence >= cp.FirstSequence && lo == len(events) {
			lo = i
		}
		if ev.Sequence > cp.LastSequence {
			hi = i
			break
		}
	}
	b := models.ChainBreak{Sequence: cp.FirstSequence, CheckpointID: cp.ID, Reason: ReasonCheckpoint, Found: cp.MerkleRoot}
	leaves := hashes[lo:hi]
	if int64(len(leaves)) != cp.EventCount || len(leaves) == 0 || events[lo].Sequence != cp.FirstSequence || events[hi-1].Sequence != cp.LastSequence {
		b.Detail = fmt.Sprintf("checkpoint %s covers %d events from sequence %d to %d; the log holds %d there", cp.ID, cp.EventCount, cp.FirstSequence, cp.LastSequence, len(leaves))
		return &b, true
	}
	if root := Root(leaves).String(); root != cp.MerkleRoot {
		b.Expected = root
		b.Detail = fmt.Sprintf("checkpoint %s: the events it covers give another merkle_root: one of them was changed after it was made", cp.ID)
		return &b, true
	}
	return nil, true
}

// appendTime appends t (in UTC) as time.RFC3339Nano writes it, for years 0 to 9999 without
// the time package's layout interpretation (the date from the day number by Howard Hinnant's
// civil-from-days algorithm).
func appendTime(b []byte, t time.Time) []byte {
	var date [11]byte
	sec := t.Unix()
	if !civilDate(&date, sec) {
		return t.AppendFormat(b, time.RFC3339Nano)
	}
	return appendClock(append(b, date[:]...), sec, t.Nanosecond())
}

// civilDate writes "YYYY-MM-DDT" for the day of Unix time sec; false outside years 0..9999.
func civilDate(date *[11]byte, sec int64) bool {
	days := sec / 86400
	if sec%86400 < 0 {
		days--
	}
	z := days + 719468
	era := z / 146097
	if z < 0 {
		era = (z - 146096) / 146097
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	day := doy - (153*mp+2)/5 + 1
	month := mp + 3
	if month > 12 {
		month -= 12
	}
	year := yoe + era*400
	if month <= 2 {
		year++
	}
	if year < 0 || year > 9999 {
		return false
	}
	copy(date[0:2], digits2[2*(year/100):])
	copy(date[2:4], digits2[2*(year%100):])
	date[4] = '-'
	copy(date[5:7], digits2[2*month:])
	date[7] = '-'
	copy(date[8:10], digits2[2*day:])
	date[10] = 'T'
	return true
}

// digits2 holds "00" to "99".
const digits2 = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879" +
	"8081828384858687888990919293949596979899"

// appendClock appends "hh:mm:ss", the fraction ns without trailing zeros, and "Z".
func appendClock(b []byte, sec int64, ns int) []byte {
	rem := sec % 86400
	if rem < 0 {
		rem += 86400
	}
	b = append(b, digits2[2*(rem/3600):2*(rem/3600)+2]...)
	b = append(b, ':')
	b = append(b, digits2[2*(rem/60%60):2*(rem/60%60)+2]...)
	b = append(b, ':')
	b = append(b, digits2[2*(rem%60):2*(rem%60)+2]...)
	if ns != 0 {
		var frac [10]byte
		frac[0] = '.'
		for i := 9; i >= 1; i -= 2 { // two digits at a time, the last one alone
			if i == 1 {
				frac[1] = byte('0' + ns)
				break
			}
			copy(frac[i-1:i+1], digits2[2*(ns%100):])
			ns /= 100
		}
		n := 10
		for frac[n-1] == '0' {
			n--
		}
		b = append(b, frac[:n]...)
	}
	return append(b, 'Z')
}
