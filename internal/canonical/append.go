package canonical

// Append appends the canonical JSON of v to b, as Marshal writes it: for encoders that write a
// document of known shape member by member (the RFC-0019 event hash) without a buffer per value.
func Append(b []byte, v any) ([]byte, error) { return appendValue(b, v) }

// AppendString appends s as a canonical JSON string (an error when s is not valid UTF-8).
func AppendString(b []byte, s string) ([]byte, error) { return appendString(b, s) }
