package store

// Shared reports whether other processes may write the store while this one uses it: a
// PostgreSQL store, shared by the replicas of the server. (A file store is used by one process at
// a time, the in-memory store by its own.) What a process knows of a shared store, another may
// change at any time: a request in progress on another replica, for one.
func (s *Store) Shared() bool { return s.pg != nil }
