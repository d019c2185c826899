package store

// StaleGuards returns how many speculative transactions of a PostgreSQL store found their
// sequence hint stale (pgspec.go).
func StaleGuards(s *Store) int64 { return s.pg.staleGuards.Load() }
