package complchain

// popFront removes and returns the head of a FIFO kept as the slice *q
// read from index *head. The slice is reset when it empties and compacted
// once its consumed prefix is most of it: a queue that never drains holds
// memory for the items queued, not for every item ever queued.
func popFront[T any](q *[]*T, head *int) *T {
	s, h := *q, *head
	v := s[h]
	s[h] = nil
	h++
	if h == len(s) {
		s, h = s[:0], 0
	} else if h >= 1024 && h > len(s)/2 {
		n := copy(s, s[h:])
		clear(s[n:])
		s, h = s[:n], 0
	}
	*q, *head = s, h
	return v
}
