package tollgate

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"time"
)

const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

var idState struct {
	sync.Mutex
	ms  int64
	seq uint64
	rnd uint64
}

// NewID returns prefix + "_" + 22 characters that sort by creation time
// (millisecond, then a per-process sequence) and carry 64 random bits, so ids
// from many instances never collide. It is safe for concurrent use.
func NewID(prefix string) string {
	var r [8]byte
	_, _ = rand.Read(r[:])
	idState.Lock()
	ms := time.Now().UnixMilli()
	if ms <= idState.ms {
		ms = idState.ms
		idState.seq++
	} else {
		idState.ms, idState.seq = ms, 0
	}
	seq := idState.seq
	idState.Unlock()

	// 45 bits of time, 20 of sequence, 45 of randomness: 110 bits, 22 chars.
	hi := uint64(ms)<<19 | (seq>>1)&0x7ffff
	lo := (seq&1)<<63 | binary.BigEndian.Uint64(r[:])>>1
	var out [22]byte
	for i := 21; i >= 11; i-- {
		out[i] = crockford[lo&31]
		lo >>= 5
	}
	for i := 10; i >= 0; i-- {
		out[i] = crockford[hi&31]
		hi >>= 5
	}
	return prefix + "_" + string(out[:])
}
