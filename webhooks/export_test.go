package webhooks

// NewMemoryLogWithHash returns a MemoryLog that indexes delivery ids by hash
// instead of its own hash, so that tests can make ids collide.
func NewMemoryLogWithHash(capacity int, hash func(id string) uint64) *MemoryLog {
	l := NewMemoryLog(capacity)
	l.hash = hash
	return l
}

// EndpointCount returns the number of webhooks s keeps engine state for.
func EndpointCount(s *Service) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.endpoints)
}
