package signaling

import (
	"sort"
	"sync"
)

// Room is a live session's message channel: who is present, and a fan-out
// of encoded messages to every member. Each member has a bounded queue; a
// member that falls that far behind (a stalled connection) is evicted
// rather than slowing the others or growing memory. The transport (the
// WebSocket) lives in the HTTP layer.
type Room struct {
	mu      sync.Mutex
	members map[*Member]struct{}
	closed  bool
}

// Presence is what others see of a member.
type Presence struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Role string `json:"role"`
}

// Member is one connection in a room.
type Member struct {
	Presence
	out  chan []byte
	gone chan struct{}
	once sync.Once
}

// Out delivers the messages for this member in order.
func (m *Member) Out() <-chan []byte { return m.out }

// Gone is closed when the member was evicted (too slow) or the room closed.
func (m *Member) Gone() <-chan struct{} { return m.gone }

func (m *Member) leave() { m.once.Do(func() { close(m.gone) }) }

// NewRoom returns an empty open room.
func NewRoom() *Room { return &Room{members: map[*Member]struct{}{}} }

// Join adds a member with a queue of queue messages; it fails with
// ErrClosed once the room is closed.
func (r *Room) Join(p Presence, queue int) (*Member, error) {
	m := &Member{Presence: p, out: make(chan []byte, queue), gone: make(chan struct{})}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	r.members[m] = struct{}{}
	return m, nil
}

// Leave removes m; it is idempotent.
func (r *Room) Leave(m *Member) {
	r.mu.Lock()
	delete(r.members, m)
	r.mu.Unlock()
	m.leave()
}

// Send queues msg for every member.
func (r *Room) Send(msg []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for m := range r.members {
		r.enqueue(m, msg)
	}
}

// SendTo queues msg for m alone.
func (r *Room) SendTo(m *Member, msg []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.members[m]; ok {
		r.enqueue(m, msg)
	}
}

// enqueue runs under r.mu.
func (r *Room) enqueue(m *Member, msg []byte) {
	select {
	case m.out <- msg:
	default:
		delete(r.members, m)
		m.leave()
	}
}

// Members lists who is present, one entry per distinct id, by role then name.
func (r *Room) Members() []Presence {
	r.mu.Lock()
	seen := map[string]bool{}
	list := []Presence{}
	for m := range r.members {
		if !seen[m.ID] {
			seen[m.ID] = true
			list = append(list, m.Presence)
		}
	}
	r.mu.Unlock()
	sort.Slice(list, func(i, j int) bool {
		if list[i].Role != list[j].Role {
			return list[i].Role < list[j].Role
		}
		return list[i].Name < list[j].Name
	})
	return list
}

// Len is how many connections are in the room.
func (r *Room) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.members)
}

// Close evicts everyone and refuses new members.
func (r *Room) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for m := range r.members {
		delete(r.members, m)
		m.leave()
	}
}
